"""LFM3 (transformers 5.25 models/lfm3/modeling_lfm3.py) read as its code builds it (issue 12, l12alloc5; development
case lfm3-default-l4/train-fp32-adamw-fused-b2-s1000 in train-sweep-dev.jsonl, moved there from blind round 5 before
its trace was read): LFM2's gated short convolutions beside full and sliding GQA layers with per-head q/k norms and a
per-head sigmoid output gate (``g_proj``), a sandwich of four norms per block, and an MLP as wide as the config says."""

from __future__ import annotations

from pathlib import Path

import pytest

from _simulated import meta_bf16_build
from memfit.inventory import count_parameters
from memfit.memory.runtimes.transformers_families import block_extras_saved
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file

TINY = dict(
    model_type="lfm3",
    vocab_size=100,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    conv_L_cache=3,
    sliding_window=8,
    layer_types=["conv", "full_attention", "sliding_attention"],
    tie_word_embeddings=True,
    use_sandwich_norm=True,
    use_attention_gate=True,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)

FAMILIES = {"lfm3"}  # checked against transformers here (test_oracle_transformers' coverage reads it)


def test_default_lfm3_matches_transformers() -> None:
    """Lfm3Config()'s 24 layers (conv, full and sliding attention) block by block against transformers' meta build."""
    transformers = pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    conf = transformers.Lfm3Config()
    assert_counts_match(conf.to_dict(), conf)


def test_tiny_lfm3_parameters_by_hand() -> None:
    # embed 100·64 = 6,400 (the lm_head is tied); the conv layer: depthwise conv 64·3 = 192, in_proj 64 -> 192 =
    # 12,288, out_proj 4,096, MLP 3·64·96 = 18,432 (Lfm3MLP: intermediate_size as given, no 2/3 adjustment), four
    # norms 256 -> 35,264; an attention layer: q 4,096, k and v 64·32 = 2,048 each, o 4,096, q/k norms 2·16, g_proj
    # 4·64 = 256, MLP 18,432, four norms 256 -> 31,264 (two: 62,528); final norm 64 -> 104,256
    spec = spec_from_config(dict(TINY), "tiny-lfm3")
    assert count_parameters(spec).total == 104_256
    assert [layer.mixer for layer in spec.layers] == ["short_conv", "attention", "attention"]
    assert spec.layers[0].conv is not None and spec.layers[0].conv.kernel == 3
    windows = [layer.attention.sliding_window for layer in spec.layers[1:] if layer.attention is not None]
    assert windows == [None, 8]
    assert all(layer.norms == 4 and layer.norm_layout == "sandwich" for layer in spec.layers)
    assert spec.layers[1].attention is not None and spec.layers[1].attention.qk_norm == "head"


def test_tiny_lfm3_equals_transformers_build() -> None:
    """transformers' own bf16 build on the meta device: the same parameters and bytes."""
    spec = spec_from_config(dict(TINY), "tiny-lfm3")
    assert (count_parameters(spec).total, 2 * count_parameters(spec).total) == meta_bf16_build(dict(TINY))


def test_output_gate_saved_by_hand() -> None:
    # bf16: attn_output * sigmoid(g_proj(x)) keeps, beyond a plain attention, the product o_proj now reads (4 heads
    # of 16 = 64 values) and the sigmoid's output (4 values): 68 × 2 B = 136 B per token; a conv layer keeps none
    spec = spec_from_config(dict(TINY), "tiny-lfm3")
    assert block_extras_saved(spec, spec.layers[1], False, 2, 2, True) == 136
    assert block_extras_saved(spec, spec.layers[0], False, 2, 2, True) == 0
    no_gate = spec_from_config({**TINY, "use_attention_gate": False}, "tiny-lfm3")
    assert block_extras_saved(no_gate, no_gate.layers[1], False, 2, 2, True) == 0


def test_lfm3_development_case() -> None:
    path = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "lfm3-default-l4/train-fp32-adamw-fused-b2-s1000")
    err = case.relative_error
    assert err is not None and abs(err) < 0.005  # allocated: -3.86 % before, -0.22 % now
    assert case.predicted_total is not None and case.measured_total is not None
    assert abs(case.predicted_total / case.measured_total - 1) < 0.005  # device total: -2.90 % before, -0.25 % now
