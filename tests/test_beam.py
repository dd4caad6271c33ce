"""Beam (transformers 5.25 models/beam/modeling_beam.py), read on the generic path with what its code does otherwise
than the generic reading (issue 12, l12beam; development case beam-default-l2/gen-b3-s4000-new8 in sweep-dev.jsonl,
moved there from blind round 5 before its trace was read, and beam-default-l4/gen-b2-s3000-new8, a development case
with a MoE layer simulated after the fix): BeamMLP's fp32 SwiGLU that holds gate and up, the experts' fp32 gate
(BeamExperts._apply_gate), fp32 routing weights, and the layer replayed for the pool (q/k norms, fp32 RoPE, the
output gate, four norms and two depth-scaled residual adds a layer)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_line, meta_bf16_build, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_beam import (
    fp32_gate,
    fp32_gate_row_bytes,
    fp32_softcap,
    fp32_softcap_bytes,
    fp32_swiglu_bytes,
)
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_pool_beam import fp32_swiglu_mlp
from memfit.memory.runtimes.transformers_pool_blocks import gated_mlp
from memfit.memory.runtimes.transformers_prefill import prefill_moments
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

# four layers, as BeamConfig's defaults lay them out: the first three dense, the last full attention
TINY = dict(
    model_type="beam",
    vocab_size=100,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    moe_intermediate_size=128,
    num_experts=4,
    num_experts_per_tok=2,
    n_group=2,
    topk_group=1,
    sliding_window=8,
    layer_types=["sliding_attention"] * 3 + ["full_attention"],
    mlp_layer_types=["dense"] * 3 + ["sparse"],
)
DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
MIB = 1 << 20


def test_tiny_beam_parameters_equal_transformers_bf16_build() -> None:
    """The generic path's count (the fp32 router weights of data/fp32_parameters.toml included) equals transformers'
    own bf16 build."""
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-beam"), "bfloat16")
    assert (w.parameters, w.total_bytes) == meta_bf16_build(dict(TINY))


def test_fp32_swiglu_bytes_by_hand() -> None:
    # bf16: gate 2 + up 2 + SiLU's fp32 output 4 + up's fp32 copy 4 + the fp32 product 4 = 16 B per element
    assert fp32_swiglu_bytes(2) == 16
    # fp32: .float() returns the tensor itself: gate, up, SiLU's output, the product = 16 B
    assert fp32_swiglu_bytes(4) == 16
    # a routed row of the experts' gate: hidden 64 × 2 + gate_up 2 × 128 × 2 + 3 × 128 × 4 = 128 + 512 + 1,536
    assert fp32_gate_row_bytes(64, 128, 2) == 2_176
    assert fp32_gate_row_bytes(64, 128, 4) == 64 * 4 + 2 * 128 * 4 + 2 * 128 * 4  # up's copy is up itself


def test_prefill_mlp_moments_by_hand() -> None:
    # 1 sequence of 10 tokens, bf16. Dense layer 0: 10 × 128 × 16 = 20,480 B where Llama's MLP holds
    # 3 × 10 × 128 × 2 = 7,680 B: 12,800 B more.
    spec = spec_from_config(dict(TINY), "tiny-beam")
    wl = Workload(mode="inference", context=10, batch=1, task="generate")
    beam = {m.name: m.activations for m in prefill_moments(spec, wl, 10, 10, 2, 0)}
    generic = {
        m.name: m.activations for m in prefill_moments(replace(spec, family="beam-as-generic"), wl, 10, 10, 2, 0)
    }
    assert beam["prefill MLP (layer 0)"] - generic["prefill MLP (layer 0)"] == 12_800
    # MoE layer 3 (top-2 of 4 experts, width 128): per token 2 × max(fp32-routed rows (2·2 + 2·4) × 64 = 768,
    # (64 + 4·128) × 2 = 1,152, the fp32 gate's row 2,176) + the router's 4 × 4 × 2 = 32: 4,384; generic:
    # 2 × max(4 × 2 × 64 = 512, 1,152) + 32 = 2,336; × 10 tokens: 43,840 − 23,360 = 20,480 B more
    assert beam["prefill MLP (layer 3)"] - generic["prefill MLP (layer 3)"] == 20_480


def test_pool_mlp_replay_by_hand() -> None:
    # BeamMLP.forward on 1 Mi intermediate elements (bf16): gate 2 MiB + up 2 MiB + SiLU's fp32 output 4 MiB + up's
    # fp32 copy 4 MiB + the product 4 MiB = 16 MiB at its peak (gate's fp32 copy went with SiLU's return); Llama's
    # gated MLP peaks at act, up and the product: 6 MiB
    n = MIB
    tr = Trace()
    tr.built()
    tr.free(fp32_swiglu_mlp(tr, n, 2 * MIB, 2))
    assert tr.figures().peak_allocated == 16 * MIB
    tr = Trace()
    tr.built()
    tr.free(gated_mlp(tr, 2 * n, 2 * MIB, fused=False))
    assert tr.figures().peak_allocated == 6 * MIB
    # the experts' gate alone on gate_up's halves: gate's copy + SiLU (8 MiB), then SiLU + up's copy + product
    # (12 MiB); in fp32 SiLU's output and the product (8 MiB)
    for dt, peak in ((2, 12 * MIB), (4, 8 * MIB)):
        tr = Trace()
        tr.built()
        tr.free(fp32_gate(tr, n, dt))
        assert tr.figures().peak_allocated == peak


def test_beam_development_cases() -> None:
    # allocated -25.94 % / -3.32 % and device total -31.95 % / -7.33 % before; +0.27 % / +0.03 %, +0.18 % / +0.22 %
    for case in ("beam-default-l2/gen-b3-s4000-new8", "beam-default-l4/gen-b2-s3000-new8"):
        row = validate_line(case_line(DEV, case))
        err = row.relative_error
        assert err is not None and abs(err) < 0.005, (case, err)
        assert row.predicted_total is not None and row.measured_total is not None
        assert abs(row.predicted_total / row.measured_total - 1) < 0.005, case


def test_fp32_softcap_by_hand() -> None:
    # BeamForCausalLM.forward: logits.float() / cap: bf16 logits 2 + the fp32 copy 4 + the quotient 4 = 10 B per
    # logit; in fp32 .float() is the logits themselves: 8 B
    assert fp32_softcap_bytes(2) == 10
    assert fp32_softcap_bytes(4) == 8
    # a full forward in bf16 of 1 sequence of 10 tokens over the tiny vocab of 100: 10 × 100 × 10 = 10,000 B of
    # logits where the generic head holds 10 × 100 × 2 = 2,000 B
    spec = spec_from_config(dict(TINY), "tiny-beam")
    wl = Workload(mode="inference", context=10, batch=1, task="forward", dtype="bfloat16")
    beam = {m.name: m.logits for m in peak_moments(spec, wl)}
    generic = {m.name: m.logits for m in peak_moments(replace(spec, family="beam-as-generic"), wl)}
    assert (beam["logits"], generic["logits"]) == (10_000, 2_000)
    # the pool: 1 Mi logits (bf16, 2 MiB) + the fp32 copy and quotient (4 MiB each) = 10 MiB at the division
    tr = Trace()
    tr.built()
    tr.free(fp32_softcap(tr, tr.alloc(2 * MIB), MIB, 2))
    assert tr.figures().peak_allocated == 10 * MIB


def test_beam_forward_development_case() -> None:
    # beam-default-l2 full forward b2 s1536 (simulated after the SwiGLU fix): -37.39 % allocated, -32.12 % device
    # total before the fp32 soft-cap; -0.00 % / -0.04 % with it
    row = validate_line(case_line(DEV, "beam-default-l2/fwd-b2-s1536"))
    assert row.relative_error is not None and abs(row.relative_error) < 0.005
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.005
