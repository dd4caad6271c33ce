"""units: parse_count and parse_bytes accept what their docstrings promise and refuse the rest clearly."""

from __future__ import annotations

import pytest

from memfit.errors import ConfigError
from memfit.units import parse_bytes, parse_count


@pytest.mark.parametrize(("text", "expected"), [
    ("80e9", 80_000_000_000),  # the docstring's own example
    ("1.5e3MB", 1_500_000_000),
    ("24GiB", 24 * 1024**3),
    ("24 GB", 24_000_000_000),
])
def test_parse_bytes(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("1e400GB", "too large for a memory size"),  # float('inf') used to escape as OverflowError
    ("1e30", "too large for a memory size"),
    ("-1GB", "is not a memory size"),
])
def test_parse_bytes_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_bytes(text)


@pytest.mark.parametrize(("text", "message"), [
    ("1e400", "above 100T parameters"),  # infinite: too large, not "must be at least 1"
    ("1.5", "not a whole number of parameters; did you mean 1.5B"),
    ("0.4", "must be at least 1"),
])
def test_parse_count_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_count(text)


def test_parse_count_keeps_decimal_suffixed_counts() -> None:
    assert parse_count("1.1b") == 1_100_000_000
    assert parse_count("2.5k") == 2_500


def test_unknown_model_without_a_close_match_is_a_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run

    code, _, err = run(["estimate", "zzzz"], capsys)
    assert code == 2
    assert "'zzzz' is not a catalog id, a parameter count or an existing path. Run 'memfit models'" in err
