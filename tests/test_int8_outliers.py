"""LLM.int8 outlier columns: the range between trained checkpoints (few) and random weights (all), hand-derived."""

from __future__ import annotations

from memfit.memory.runtimes.int8_outliers import down_projection_bytes, outlier_columns, outlier_range_note


def test_outlier_columns_upper_and_lower_end() -> None:
    assert outlier_columns(14336, 2048) == 14336  # random weights: every column from 100 tokens on
    assert outlier_columns(14336, 50) == 7168  # fewer tokens reach fewer columns
    assert outlier_columns(14336, 2048, trained=True) == 15  # 0.1 % of 14,336, rounded up
    assert outlier_columns(500, 2048, trained=True) == 1


def test_down_projection_bytes_by_hand() -> None:
    # 2048 tokens × 3 × 14336 + subA 2048 × 15 × 2 + 9 × 4096 × 15
    assert down_projection_bytes(2048, 14336, 4096, 15) == 88_080_384 + 61_440 + 552_960


def test_note_names_both_ends_and_which_is_used() -> None:
    note = outlier_range_note(2048, 14336, 4096)
    assert "14,336 outlier columns" in note and "with 15 (0.1 %" in note
    assert "arXiv 2208.07339), used here" in note and "the safe bound, up to" in note
    safe = outlier_range_note(2048, 14336, 4096, "all")
    assert "the safe bound, used here as asked (--int8-outliers all)" in safe


def test_trained_by_default_all_columns_only_on_request() -> None:
    from memfit import estimate

    few = estimate("mistral-7b-v0.3", mode="inference", quant="int8", context=2048)
    safe = estimate("mistral-7b-v0.3", mode="inference", quant="int8", context=2048, int8_outliers="all")
    assert few.allocated_bytes is not None and safe.allocated_bytes is not None
    # trained: the up projection's 2048 × (8·14336 + 4096) B outweigh the down projection's buffers with 15
    # columns; all: the down projection with every column is the layer's peak instead
    up = 2048 * (8 * 14336 + 4096)
    assert down_projection_bytes(2048, 14336, 4096, 15) < up
    assert safe.allocated_bytes - few.allocated_bytes == down_projection_bytes(2048, 14336, 4096, 14336) - up
    assert any("used here as asked" in n for n in safe.notes) and not any("as asked" in n for n in few.notes)


def test_int8_estimate_carries_the_note() -> None:
    from memfit import estimate

    est = estimate("mistral-7b-v0.3", mode="inference", quant="int8", context=2048)
    assert any("LLM.int8 outliers" in n for n in est.notes)
