"""ZAYA (transformers 5.25 models/zaya/modeling_zaya.py), read on the generic path with what its code does otherwise
than the generic reading (issue 12, l12zaya; development case zaya-default-l2/gen-b3-s4000-new8 in sweep-dev.jsonl,
moved there from blind round 5 before its trace was read): its float32 residual stream beside model-dtype
embeddings, and the router states each layer hands to the next."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_line, meta_bf16_build, validate_line
from memfit.memory.runtimes.transformers_families import fp32_stream_extra
from memfit.memory.runtimes.transformers_prefill import prefill_moments
from memfit.memory.runtimes.transformers_zaya import router_state_bytes
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

TINY = dict(model_type="zaya", vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=1,
            router_hidden_size=16, layer_types=["hybrid", "hybrid"])
DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_tiny_zaya_parameters_equal_transformers_bf16_build() -> None:
    """The generic path's count (exact before this lane) still equals transformers' own bf16 build."""
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-zaya"), "bfloat16")
    assert (w.parameters, w.total_bytes) == meta_bf16_build(dict(TINY))


def test_fp32_stream_with_model_dtype_embeddings_by_hand() -> None:
    # 10 tokens × 64 hidden, bf16: of the embeddings, layer input and residual, ZAYA keeps the last two in fp32
    # (ZayaModel.forward's .to(torch.float32) after the embedding): 2 × 640 × (4 − 2) = 2,560 B beyond bf16;
    # ergo keeps its embeddings in fp32 too: 3 × 640 × 2 = 3,840 B; fp32 runs: nothing beyond
    spec = spec_from_config(dict(TINY), "tiny-zaya")
    assert fp32_stream_extra(spec, 3, 640, 2) == 2_560
    assert fp32_stream_extra(replace(spec, family="ergo"), 3, 640, 2) == 3_840
    assert fp32_stream_extra(spec, 3, 640, 4) == 0


def test_router_states_by_hand() -> None:
    # ZayaRouter.forward's router_hidden_states_next clone, 10 tokens × router_hidden_size 16 × 2 B = 320 B; from the
    # second MoE layer on the previous layer's clone is alive beside it: 640 B
    spec = spec_from_config(dict(TINY), "tiny-zaya")
    assert router_state_bytes(spec, 10, 2) == 640
    assert router_state_bytes(replace(spec, layers=spec.layers[:1]), 10, 2) == 320
    assert router_state_bytes(replace(spec, family="mixtral"), 10, 2) == 0


def test_prefill_mlp_moment_by_hand() -> None:
    # 1 sequence of 10 tokens, bf16: the MoE moment is the generic one + the fp32 layer input and residual
    # (2 × 10·64 × 2 = 2,560 B) + two router states (640 B) = 3,200 B more
    spec = spec_from_config(dict(TINY), "tiny-zaya")
    wl = Workload(mode="inference", context=10, batch=1, task="generate")
    zaya = {m.name: m.activations for m in prefill_moments(spec, wl, 10, 10, 2, 0)}
    generic = {m.name: m.activations for m in prefill_moments(replace(spec, family="zaya-as-generic"), wl, 10, 10,
                                                              2, 0)}
    assert zaya["prefill MLP (layer 0)"] - generic["prefill MLP (layer 0)"] == 3_200
    # the attention moment: the fp32 layer input (the embeddings stay bf16): 10·64 × 2 = 1,280 B more
    assert zaya["prefill attention (layer 0)"] - generic["prefill attention (layer 0)"] == 1_280


def test_zaya_development_case() -> None:
    row = validate_line(case_line(DEV, "zaya-default-l2/gen-b3-s4000-new8"))
    err = row.relative_error
    assert err is not None and abs(err) < 0.005  # allocated: -4.25 % before, +0.14 % now
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.005  # device total: -0.01 % before and now
