"""Run the memfit CLI in-process, as a user would from a shell: exit code, stdout, stderr."""

from __future__ import annotations

import pytest

from memfit.cli import main


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
