"""The README's commands and quickstart stay true."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    lines = (ROOT / "README.md").read_text().splitlines()
    commands = [l for l in lines[:4] if l.startswith("pip install")]
    assert commands == ['pip install -e . && staticad bench', 'pip install -e ".[test]" && pytest']
    assert "grep -m1 -E '^pip install -e \"\\.\\[test\\]\"' README.md" in (ROOT / ".ci" / "run").read_text()


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    code = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[0]
    namespace = {}
    exec(compile(code, "README quickstart", "exec"), namespace)
    assert namespace["g"].shape == (100, 10)
    assert namespace["step"].stats["kernels"] >= 1
