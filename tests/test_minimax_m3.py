"""MiniMax-M3's text model (transformers 5.25 ``models/minimax_m3_vl/modeling_minimax_m3_vl.py``,
``minimax_m3_vl_text``) in inference (issue 12, l12dsa), found on the development case
minimax-m3-vl-text-default-l2/gen-b2-s3000-new8 (sweep-dev.jsonl, moved from blind round 5 by l12total5a)."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_errors, records
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers import _ffn_transient
from memfit.memory.runtimes.transformers_pool_blocks import clamped_glu
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "minimax-m3-vl-text-default-l2/gen-b2-s3000-new8"
MIB = 1 << 20


def _config() -> dict[str, object]:
    config = next(r for r in records(DEV) if r.get("case") == CASE)["config"]
    assert isinstance(config, dict)
    return config


def test_attention_read_from_the_config() -> None:
    """MiniMaxM3VLAttention norms q and k per head (MiniMaxM3VLRMSNorm(head_dim)) and rotates rotary_dim = 64 of
    each head's 128 features (the generic path read neither)."""
    a = spec_from_config(_config(), "minimax-m3-l2").layers[0].attention
    assert a is not None
    assert (a.qk_norm, a.rope_dim, a.head_dim) == ("head", 64, 128)


def test_routed_rows_weighted_in_fp32_by_hand() -> None:
    """MiniMaxM3VLTopKRouter returns the top-k weights gathered from ``F.sigmoid(router_logits.float())``: the
    weighted rows and their copy in token order are fp32. Per token at the MoE of the dev case's prefill (6,000
    tokens, hidden 6,144, top 4, bf16): 4 rows × (2 × 2 + 2 × 4) B × 6,144 = 294,912 B (the fp32 rows outweigh
    6,144 + 4 × 3,072 features × 2 B), the router's 128 × 8 B, the shared expert's output 6,144 × 2 B: 308,224 B,
    1,849,344,000 B in all (1,259,520,000 with bf16 weights)."""
    spec = spec_from_config(_config(), "minimax-m3-l2")
    wl = Workload(mode="inference", task="generate", batch=2, context=3000, new_tokens=8).validate()
    assert _ffn_transient(spec, spec.layers[0], 0, wl, 6000, 2)[0] == 6000 * 308_224 == 1_849_344_000


def test_clamped_glu_by_hand() -> None:
    """MiniMaxM3VLExperts._apply_gate on 1 MiB halves: both clamps (2), gate·alpha (3), its sigmoid (4, the product
    freed: 3), glu (4, the sigmoid freed: 3), up + 1 (4), the product (5: the peak); the clamps, glu and up + 1 go
    when it returns: 1 MiB left."""
    tr = Trace()
    clamped_glu(tr, MIB)
    assert (tr.pool.peak_allocated, tr.pool.allocated) == (5 * MIB, MIB)


def test_development_case() -> None:
    """Before: allocated -1.59 %, device total -3.27 % (bf16 routing weights, no q/k norms, full RoPE, the experts'
    SwiGLU, the attention lumped)."""
    allocated, total = case_errors(DEV, CASE)
    assert abs(allocated) < 0.001
    assert abs(total) < 0.005
