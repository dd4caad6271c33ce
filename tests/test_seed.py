"""The seed document's arithmetic, exact."""

from __future__ import annotations

import pytest

import memfit
from memfit.units import parse_count


@pytest.mark.parametrize(
    ("text", "count"),
    [("11776", 11_776), ("7B", 7_000_000_000), ("1.5b", 1_500_000_000), ("70e9", 70_000_000_000),
     ("350M", 350_000_000), ("32B", 32_000_000_000), ("1,234", 1234)],
)
def test_parse_count(text: str, count: int) -> None:
    assert parse_count(text) == count


@pytest.mark.parametrize(
    ("model", "dtype", "expected"),
    [
        ("11776", "fp16", 23_552),
        ("11776", "fp32", 47_104),
        ("7B", "fp16", 14_000_000_000),
        ("32B", "fp16", 64_000_000_000),
        ("70B", "fp16", 140_000_000_000),
        ("7B", "bf16", 14_000_000_000),
    ],
)
def test_seed_weights(model: str, dtype: str, expected: int) -> None:
    est = memfit.estimate(model, dtype=dtype)
    assert est.total_bytes == expected
    assert est.component("weights") == expected


def test_seed_7b_gib() -> None:
    assert round(memfit.estimate("7B", dtype="fp16").total_bytes / 1024**3, 2) == 13.04


def test_seed_llama_arithmetic() -> None:
    est = memfit.estimate("llama-3.1-8b", dtype="bf16")
    assert est.parameters.total == 8_030_261_248
    assert est.components[0].formula.startswith("8,030,261,248 parameters × 2 bytes = 16.06 GB")


@pytest.mark.parametrize("bad", ["-5", "0", "abc", "1e30", "7Q"])
def test_bad_counts(bad: str) -> None:
    with pytest.raises(memfit.MemfitError):
        parse_count(bad)
