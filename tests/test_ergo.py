"""Ergo (transformers 5.25 models/ergo/modeling_ergo.py), read on the generic path with what its code does otherwise
than the generic reading (issue 12, l12arch2; development case ergo-default-l2/prefill-b1-s12288 in sweep-dev.jsonl,
moved there from blind round 5 before its trace was read): the parameters it keeps in float32, its float32 residual
stream and its per-route expert norm."""

from __future__ import annotations

from pathlib import Path

import pytest

from _simulated import meta_bf16_build
from memfit.memory.fp32_parameters import fp32_kept
from memfit.memory.runtimes.transformers import _ffn_transient
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file
from memfit.workload import Workload

TINY = dict(model_type="ergo", vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, first_dense_intermediate_size=128, num_dense_blocks=1, moe_intermediate_size=32,
            shared_intermediate_size=64, num_experts=4, num_experts_per_tok=2, sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention"], mlp_layer_types=["dense", "sparse"])


def test_tiny_ergo_weights_by_hand() -> None:
    # parameters: embed 100·64 = 6,400; lm_head 6,400 (not tied); per layer qkv 64·(4 + 2·2)·16 = 8,192 and o
    # 64·64 = 4,096 (×2 = 24,576); dense MLP up + down 2·64·128 = 16,384; experts 4·2·64·32 = 16,384; shared expert
    # 2·64·64 = 8,192; norms: per layer 4·64 + q/k 2·16 + 2 residual gates 2·64 = 416 (×2 = 832), router 4·64 = 256,
    # expert norm 4·64 = 256, shared norm 64, final norm 64 -> 79,808.
    # float32 (ErgoPreTrainedModel._keep_in_fp32_modules_strict): embed 6,400 + 832 + 256 + 256 + 64 + 64 = 7,872;
    # bytes in bf16: 79,808·2 + 7,872·2 = 175,360 (transformers' own bf16 build on the meta device says the same)
    spec = spec_from_config(dict(TINY), "tiny-ergo")
    w = weights_breakdown(spec, "bfloat16")
    assert w.parameters == 79_808
    assert w.params_by_type["F32"] == 7_872
    assert w.total_bytes == 175_360


def test_fp32_kept_names() -> None:
    assert fp32_kept("ergo", "model.embed_tokens.weight")
    assert fp32_kept("ergo", "model.layers.1.mlp.gate.linear.weight")
    assert fp32_kept("ergo", "model.layers.1.mlp.experts.post_expert_norm.weight")
    assert not fp32_kept("ergo", "model.layers.1.mlp.experts.up_proj")
    assert not fp32_kept("ergo", "lm_head.weight")
    assert not fp32_kept("llama", "model.embed_tokens.weight")


def test_per_route_norm_moment_by_hand() -> None:
    # ErgoExperts at ErgoExpertNorm's product: the routes' rows and the experts' outputs in bf16 and the normalised
    # rows, the gathered weights and their product in fp32: 10 tokens × top-2 × 64 × (2·2 + 3·4) = 20,480, + the
    # router's fp32 logits and scores 4 experts × 4 B × 2 per token = 320 -> 20,800
    spec = spec_from_config(dict(TINY), "tiny-ergo")
    got, _ = _ffn_transient(spec, spec.layers[1], 1, Workload(mode="inference", context=10, batch=1), 10, 2)
    assert got == 20_800


def test_ergo_development_case() -> None:
    path = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "ergo-default-l2/prefill-b1-s12288")
    err = case.relative_error
    assert err is not None and abs(err) < 0.002  # allocated: -17.46 % before, +0.01 % now


def test_tiny_ergo_bytes_equal_transformers_bf16_build() -> None:
    """transformers' own bf16 build on the meta device: the same parameters and the same bytes (its fp32 modules)."""
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-ergo"), "bfloat16")
    assert (w.parameters, w.total_bytes) == meta_bf16_build(dict(TINY))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__]))
