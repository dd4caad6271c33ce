"""Every `$ memfit …` example line of README.md runs as written, from the repository root (issue 15).

The lines are read from the README itself, so an example added there is tested here. `--check` lines may exit
1 (the README says so); the `../shared/groundtruth/…` line runs where that folder is beside the checkout, and
elsewhere must refuse in one line naming the copy this repository ships.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from _cli import run

ROOT = Path(__file__).resolve().parent.parent
LONG_RUNNING = {"serve"}  # a server: started by tests/test_web_*.py instead


def readme_examples() -> list[list[str]]:
    out: list[list[str]] = []
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\$ memfit (.*)$", line)
        if not m:
            continue
        text = re.sub(r"\s+#.*$", "", m.group(1)).strip()
        if "|" in text:  # "models | gpus | formats  (each with --json)": one command each
            out += [[c.strip()] for c in text.split("|")]
            continue
        out.append(shlex.split(text))
    return out


EXAMPLES = readme_examples()


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 15
    assert ["validate", "../shared/groundtruth/h100.jsonl"] in EXAMPLES


@pytest.mark.parametrize("args", [a for a in EXAMPLES if a[0] not in LONG_RUNNING], ids=" ".join)
def test_readme_example_runs(args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = [str(tmp_path / a) if a.endswith(".png") else a for a in args]  # plot --out: not into the checkout
    code, out, err = run(args, capsys)
    if args[0] == "validate" and args[1].startswith("../shared/") and not (ROOT / args[1]).is_file():
        assert code == 2 and err.count("\n") == 1
        assert f"memfit validate tests/data/groundtruth/{Path(args[1]).name}" in err
        assert (ROOT / "tests" / "data" / "groundtruth" / Path(args[1]).name).is_file()
        code, out, err = run(["validate", f"tests/data/groundtruth/{Path(args[1]).name}"], capsys)
    allowed = (0, 1) if "--check" in args else (0,)
    assert code in allowed, (args, err)
    assert out.strip() and "Traceback" not in err and "internal error" not in err
