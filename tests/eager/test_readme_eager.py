"""The README's "Explicit or implicit?" example runs and its two styles agree."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_explicit_or_implicit_example_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("STATICAD_CACHE_DIR", str(tmp_path))
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Explicit or implicit?"):]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    namespace = {}
    exec(compile(code, "README explicit-or-implicit", "exec"), namespace)  # asserts the two agree
    assert len(namespace["implicit"]) == len(namespace["explicit"]) == 20
    assert namespace["implicit"][-1] < namespace["implicit"][0]
    assert namespace["gw"].shape == (3, 1)
