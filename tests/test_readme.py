"""The README's commands and quickstart stay true."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [l for l in lines[:4] if l.startswith("pip install")]
    assert commands == ['pip install -e . && staticad bench', 'pip install -e ".[test]" && pytest']
    ci = (ROOT / ".ci" / "run").read_text()
    assert "grep -m1 -E '^pip install -e \"\\.\\[test\\]\"' README.md" in ci
    assert "grep -m1 -E '^pip install -e \\. && ' README.md" in ci      # the first command too
    assert '-m venv "$VENV"' in ci and "--system-site-packages" not in ci  # in a fresh venv


def test_readme_links_only_to_files_in_the_repository():
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)\)", text) + re.findall(r"`((?:docs|notebooks|examples)/[^`]+)`", text)
    assert "shared/" not in text.replace("shared-memory", "")
    for t in targets:
        if "://" not in t:
            assert (ROOT / t).exists(), f"README links to {t}, which is not in the repository"


def test_every_declared_dependency_is_imported_by_the_code():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=\[ ]", d)[0].lower() for d in deps}
    code = "\n".join(p.read_text() for p in (ROOT / "staticad").rglob("*.py"))
    for name in names:
        assert re.search(rf"^\s*(import|from) {name}\b|import_module\(\"{name}|_version_of\(\"{name}", code, re.M), name


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    code = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[0]
    namespace = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    assert namespace["g"].shape == (100, 10)
    assert namespace["step"].stats["kernels"] >= 1
