"""Flint (transformers 5.25 models/flint/modeling_flint.py), read on the generic path with what its code does otherwise
than the generic reading (issue 12, l12arch2; development case flint-default-l2/gen-eager-b2-s3000-new16 in
sweep-dev.jsonl, moved there from blind round 5 before its trace was read): its fp32 sinks and router weight, and its
eager attention's fp32 scores with a sink column."""

from __future__ import annotations

from pathlib import Path

from _simulated import meta_bf16_build
from memfit.memory.runtimes.transformers import _attn_transient
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file
from memfit.workload import Workload

TINY = dict(model_type="flint", vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_experts=0,
            layer_types=["sliding_attention", "full_attention"], sliding_window=8)


def test_tiny_flint_weights_by_hand() -> None:
    # embed 100·64 = 6,400, lm_head 6,400 (not tied); per layer q 64·64 = 4,096, k and v 64·32 = 2,048 each, o 4,096,
    # q/k norms 2·16, sinks 4, MLP 3·64·96 = 18,432, two norms 2·64 -> 30,884 (×2 = 61,768); final norm 64 -> 74,632.
    # The sinks (FlintPreTrainedModel._keep_in_fp32_modules_strict) stay fp32: 8 × 4 B; the rest 74,624 × 2 B ->
    # 149,280 bytes (transformers' own bf16 build on the meta device says the same)
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-flint"), "bfloat16")
    assert w.parameters == 74_632
    assert w.params_by_type["F32"] == 8
    assert w.total_bytes == 149_280


def test_fp32_sink_scores_by_hand() -> None:
    # 1 sequence of 10 tokens, 4 heads of 16, 2 K/V heads, bf16, eager: q 10·4·16·2 = 1,280; K and V repeated to
    # every head 10·4·(16 + 16)·2 = 2,560; the fp32 masked scores, their cat with the sinks and the fp32 softmax
    # 3 × 4·10·10 × 4 = 4,800, + the sink column of the cat and the softmax 2 × 4·10 × 4 = 320 -> 8,960
    spec = spec_from_config(dict(TINY), "tiny-flint")
    att = spec.layers[1].attention
    assert att is not None
    wl = Workload(mode="inference", context=10, batch=1, attn="eager")
    got, _ = _attn_transient(att, wl, 1, 10, 2, True, False, "flint")
    assert got == 8_960


def test_flint_development_case() -> None:
    path = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "flint-default-l2/gen-eager-b2-s3000-new16")
    err = case.relative_error
    assert err is not None and abs(err) < 0.006  # allocated: -13.64 % before, -0.41 % now
    assert case.predicted_total is not None and case.measured_total is not None
    assert abs(case.predicted_total / case.measured_total - 1) < 0.012  # device total: -3.88 % before, -0.77 % now

def test_tiny_flint_bytes_equal_transformers_bf16_build() -> None:
    """transformers' own bf16 build on the meta device: the same parameters and the same bytes (its fp32 modules)."""
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-flint"), "bfloat16")
    assert (w.parameters, w.total_bytes) == meta_bf16_build(dict(TINY))
