"""RecurrentGemma inference read as its own architecture (transformers 5.25 modeling_recurrent_gemma.py), on the
development case recurrent-gemma-default-l3/gen-b2-s1024-new8 (sweep-dev.jsonl). memfit priced the RG-LRU block
with Mamba-2's formulas (``d_conv`` conv columns, the chunked scan's transients), read ``block_types`` only when it
listed every layer and missed the local attention's window (``attention_window_size``): allocated +7.05 %. Sizes
below are worked by hand from the config and the modelling code."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.kv_cache import cache_layers, kv_cache
from memfit.memory.ssm_activations import rglru_prefill_bytes
from memfit.sources.generic import generic_spec
from memfit.spec import ModelSpec

MIB = 1 << 20
CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "recurrent-gemma-default-l3/gen-b2-s1024-new8"


def _row() -> str:
    return case_line(CASES, CASE)


def _spec(**changes: object) -> ModelSpec:
    cfg = json.loads(_row())["config"]
    cfg.update(changes)
    return generic_spec(cfg, "recurrent-gemma")


def test_state_bytes_by_hand() -> None:
    # RecurrentGemmaRecurrentBlock: conv1d_state [batch, lru_width, conv1d_width - 1] in the model dtype (bf16):
    # 2,560 × 3 × 2 B = 15,360 B; RecurrentGemmaRglru.recurrent_states [batch, lru_width] fp32: 2,560 × 4 B = 10,240 B
    rows = cache_layers(_spec())
    assert [(c.kind, c.per_sequence) for c in rows[:2]] == [("ssm", 15_360 + 10_240)] * 2
    # the attention block: 10 kv heads × 256 × (K + V) × 2 B = 10,240 B per token, window attention_window_size
    assert (rows[2].kind, rows[2].per_token, rows[2].window) == ("sliding", 10_240, 2048)


def test_sliding_cache_beyond_the_window() -> None:
    # one sequence of 2,600 tokens: the DynamicSlidingWindowLayer keeps 2,047 tokens after a decode step;
    # 2 × 25,600 B of recurrent state + 2,047 × 10,240 B = 21,012,480 B
    assert kv_cache(_spec(), 2600, 1).bytes == 2 * 25_600 + 2047 * 10_240


def test_block_types_repeated_over_the_layers() -> None:
    # RecurrentGemmaConfig.layers_block_type: (block_types * 100)[:num_hidden_layers], attention always local;
    # recurrentgemma-2b's 26 layers from the 3-entry pattern: 18 recurrent blocks and 8 windowed attention blocks
    spec = _spec(num_hidden_layers=26)
    kinds = ["r" if layer.ssm is not None else "a" for layer in spec.layers]
    assert kinds == (["r", "r", "a"] * 9)[:26]
    assert all(la.attention.sliding_window == 2048 for la in spec.layers if la.attention is not None)


def test_rglru_prefill_bytes_by_hand() -> None:
    ssm = _spec().layers[0].ssm
    assert ssm is not None
    # 2 × 1,024 tokens × 2,560 × 2 B = 10 MiB each: gelu(y), the conv output, the reshaped copy, res, 2 sigmoids
    # (one rebound to exp), log, a², x·gate, the multiplier, normalized_x, gate·~reset, contextualized_states = 13;
    # the conv output's 3 extra columns (2 × 2,560 × 3 × 2 B) and 3 fp32 (2, 2,560) step vectors
    total, _ = rglru_prefill_bytes(ssm, 2, 1024, 2)
    assert total == 13 * 10 * MIB + 30_720 + 3 * 20_480


def test_case_against_the_simulator() -> None:
    # stated tolerances: allocated within 1.5 % (was +7.05 %; the prefill moment charges the whole cache), device
    # total within 1 % (+0.50 % before, with the Mamba-2 replay)
    r = validate_line(_row())
    assert r.relative_error is not None and abs(r.relative_error) < 0.015
    assert r.total_error is not None and abs(r.total_error) < 0.01
