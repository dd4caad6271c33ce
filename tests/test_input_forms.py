"""Input as people write it (issue 15): 128k / 32K / 8,192 token counts, --memory without a unit, JSON errors
with --json, one-line usage errors."""

from __future__ import annotations

import json

import pytest

from _cli import run
from memfit.errors import ConfigError
from memfit.units import parse_bytes, parse_tokens, size_note


@pytest.mark.parametrize(("text", "expected"), [
    ("8192", 8192), ("8,192", 8192), ("32K", 32 * 1024), ("128k", 131_072), ("1.5k", 1536), ("1M", 1_048_576),
    (" 4k ", 4096), ("-5", -5),  # the range is Workload's to refuse, with its own message
])
def test_parse_tokens(text: str, expected: int) -> None:
    assert parse_tokens(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("lots", "not a count"), ("1.1k", "not a whole count"), ("12kb", "not a count"), ("1e400", "not a count"),
])
def test_parse_tokens_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_tokens(text)


def test_memory_without_a_unit_is_gb() -> None:
    assert parse_bytes("24") == 24_000_000_000
    assert parse_bytes("80e9") == 80_000_000_000  # a byte count still reads as bytes
    assert size_note("--memory", "24") == ("--memory 24 has no unit: read as 24 GB (24,000,000,000 bytes); write "
                                           "24GiB for GiB")
    assert size_note("--memory", "24GiB") is None and size_note("--memory", "80e9") is None
    for bad, msg in (("0.5", "below 1 GB"), ("512MB", "below 1 GB"), ("5000000", "has no unit")):
        with pytest.raises(ConfigError, match=msg):
            parse_bytes(bad)


def test_context_as_people_write_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "llama-3.2-1b", "--context", "128k", "--json"], capsys)
    assert code == 0
    code2, out2, _ = run(["estimate", "llama-3.2-1b", "--context", "131,072", "--json"], capsys)
    assert code2 == 0 and json.loads(out)["total_bytes"] == json.loads(out2)["total_bytes"]
    assert json.loads(out)["mode"] == "inference"  # --context implies inference


def test_memory_note_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["fit", "llama-3.2-1b", "--gpu", "cpu", "--memory", "24", "--json"], capsys)
    assert code == 0 and json.loads(out)["capacity_bytes"] == 24_000_000_000
    assert "note: --memory 24 has no unit: read as 24 GB" in err


@pytest.mark.parametrize("args", [
    ["fit", "llama-3.2-1b", "--gpu", "h100", "--context", "lots", "--json"],
    ["fit", "llama-3.2-1b", "--gpu", "h100", "--bogus", "--json"],
    ["fit", "llama-3.2-1b", "--json"],
    ["estimate", "no-such-model-xyz", "--json"],
    ["fit", "llama-3.2-1b", "--gpu", "cpu", "--memory", "0.5", "--json"],
    ["plan", "llama-3.2-1b", "--gpu", "h100", "-q", "nope", "--json"],
])
def test_errors_are_one_line_and_json_with_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Usage:" not in err
    doc = json.loads(out)
    assert doc == {"error": err.strip().removeprefix("error: "), "exit_code": 2}
    code, out, err = run([a for a in args if a != "--json"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
