"""OLMo Hybrid (transformers 5.25 models/olmo_hybrid/modeling_olmo_hybrid.py) in the inference formula and pool (issue
12, l12alloc5; development case olmo-hybrid-default-l4/gen-b2-s4096-new8 in sweep-dev.jsonl, moved there from blind
round 5 before its trace was read): ``OlmoHybridGatedDeltaNet.forward`` projects its output gate (``g_proj``) only after
``torch_chunk_gated_delta_rule`` returns, and DynamicCache fills layer by layer, so the gated delta-nets before the
full-attention layer run without that layer's K/V."""

from __future__ import annotations

from pathlib import Path

from _traces import Counted
from memfit.memory.runtimes.transformers_pool_mixers import mixer_prefill
from memfit.memory.runtimes.transformers_prefill import prefill_moments
from memfit.memory.ssm_activations import gated_delta_prefill_bytes
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file
from memfit.workload import Workload

TINY = dict(
    model_type="olmo_hybrid",
    vocab_size=100,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    layer_types=["linear_attention", "full_attention"],
    linear_num_key_heads=2,
    linear_num_value_heads=2,
    linear_key_head_dim=8,
    linear_value_head_dim=16,
    linear_conv_kernel_dim=4,
)


def test_late_gate_in_the_formula_by_hand() -> None:
    # 1 sequence of 64 tokens (one chunk), 2 heads, d_k 8, d_v 16, bf16: the fp32 part 1·2·64·(5·8 + 5·16 + 3·64)·4 =
    # 159,744 B; in the model dtype only the conv output (64 × (2·16 + 32) × 2 = 8,192 B): the gate (64 × 32 × 2 =
    # 4,096 B) is projected after the rule
    g = spec_from_config(dict(TINY), "tiny").layers[0].linear
    assert g is not None and g.late_gate
    assert gated_delta_prefill_bytes(g, 1, 64, 2)[0] == 159_744 + 8_192


def test_late_gate_in_the_pool() -> None:
    """The development case's shape (b2, s4096, 30 value heads of 192, bf16): the gate, 8,192 × 5,760 × 2 =
    94,371,840 B, is no longer alive at the rule's peak."""
    spec = spec_from_config(
        {
            **TINY,
            "hidden_size": 3840,
            "linear_num_key_heads": 30,
            "linear_num_value_heads": 30,
            "linear_key_head_dim": 96,
            "linear_value_head_dim": 192,
        },
        "olmo",
    )
    layer = spec.layers[0]
    assert layer.linear is not None
    peaks = []
    for late in (False, True):
        tr = Counted()
        mixer_prefill(
            tr,
            type(layer)(
                **{**layer.__dict__, "linear": type(layer.linear)(**{**layer.linear.__dict__, "late_gate": late})}
            ),
            "olmo_hybrid",
            2,
            4096,
            3840,
            2,
            0,
        )
        peaks.append(tr.peak)
    assert peaks[0] - peaks[1] == 94_371_840


def test_cache_so_far_by_hand() -> None:
    # b1, s32, the config's fp32: the gated delta-net's state per sequence: conv (2·16 + 32) channels × 4 taps × 4 B =
    # 1,024 and the recurrent state 2 × 8 × 16 × 4 B = 1,024 -> 2,048 B; the attention layer's K/V 32 × 2 × 64 × 4 =
    # 16,384 B comes after it, so the delta-net's moments hold 2,048 B of cache (18,432 B before), the attention's
    # 18,432 B
    spec = spec_from_config(dict(TINY), "tiny")
    wl = Workload(mode="inference", context=32, batch=1).validate()
    moments = {m.name: m.kv_cache for m in prefill_moments(spec, wl, 32, 32, 2, 0)}
    assert moments["prefill gated delta-net (layer 0)"] == 2_048
    assert moments["prefill attention (layer 1)"] == 18_432


def test_olmo_hybrid_development_case() -> None:
    path = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "olmo-hybrid-default-l4/gen-b2-s4096-new8")
    err = case.relative_error
    assert err is not None and abs(err) < 0.005  # allocated: +3.91 % before, -0.28 % now
    assert case.predicted_total is not None and case.measured_total is not None
    assert abs(case.predicted_total / case.measured_total - 1) < 0.005  # device total: +3.25 % before, -0.22 % now
