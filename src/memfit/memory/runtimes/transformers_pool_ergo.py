"""Ergo's MoE block as the caching allocator sees it (issue 12, l12arch2), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``modeling_ergo.py`` and checked against the simulator's
allocation trace of the development case ergo-default-l2/prefill-b1-s12288 (sweep-dev.jsonl, moved there from blind
round 5; the replay had priced the grouped experts path of a gated MoE on bf16 rows).

``ErgoMoE.forward``: the router (``ErgoTopkRouter`` through ``ErgoLinearWithFP32Output``: the input cast to fp32, the
fp32 logits kept until the block returns, their sigmoid, + the score-correction bias, top-k), then ``ErgoExperts``:
``repeat_interleave`` gives every route its own row (``S = t·top_k`` rows, kept until the block returns), the grouped
experts path (``integrations/moe.py``: the rows gathered per expert, up, relu² as relu then its square, down, the
rows weighted by the unit weights, put back in route order, summed over the one route per row), ``ErgoExpertNorm``
(``F.rms_norm`` in fp32: the rows cast, squared, the normalised rows; the per-expert fp32 weights gathered
(``weight[expert_ids]``), their product, cast back), the routes weighted by the fp32 top-k weights and summed per
token (fp32), cast back; then the shared expert (up, relu², down) and its ``ErgoRMSNorm`` (fp32: cast, squared, the
normalised tensor, times the weight, cast back), added to the routed output.
"""

from __future__ import annotations

from ...spec import LayerSpec
from ..allocator_trace import Trace
from ..ssm_activations import FP32

__all__ = ["ergo_moe"]


def _relu2_mlp(tr: Trace, t: int, hidden: int, inner: int, dt: int) -> int:
    """``down(relu(up(x))²)``: up, relu, its square (relu freed), up freed, down (the square freed)."""
    up = tr.alloc(t * inner * dt)
    relu = tr.alloc(t * inner * dt)
    sq = tr.alloc(t * inner * dt)
    tr.free(relu, up)
    out = tr.alloc(t * hidden * dt)
    tr.free(sq)
    return out


def _fp32_rms_norm(tr: Trace, n: int, dt: int) -> tuple[int, int]:
    """``F.rms_norm(x.float(), ...)`` on ``n`` elements: the fp32 copy (none when ``dt`` is fp32), its square (freed
    once the mean is taken), the normalised tensor. Returns (normalised, the copy), the copy still alive."""
    cast = tr.alloc(n * FP32) if dt < FP32 else 0
    tr.free(tr.alloc(n * FP32))
    return tr.alloc(n * FP32), cast


def ergo_moe(tr: Trace, layer: LayerSpec, t: int, hidden: int, dt: int) -> int:
    """Ergo's MoE block on ``t`` tokens from its normed input to its output (returns its key); see the docstring."""
    moe = layer.moe
    assert moe is not None
    k, i_e, experts = moe.routed_rows, moe.expert_intermediate_size, moe.num_experts
    rows = t * k * hidden
    x32 = tr.alloc(t * hidden * FP32) if dt < FP32 else 0  # the router's fp32 input
    logits = tr.alloc(t * experts * FP32)
    tr.free(x32)
    scores = tr.alloc(t * experts * FP32)  # sigmoid
    tr.free(tr.alloc(t * experts * FP32))  # + e_score_correction_bias, for top-k
    tr.free(scores)
    routes = tr.alloc(rows * dt)  # repeat_interleave
    sel = tr.alloc(rows * dt)  # the rows gathered per expert
    up = tr.alloc(t * k * i_e * dt)
    relu = tr.alloc(t * k * i_e * dt)
    sq = tr.alloc(t * k * i_e * dt)
    tr.free(relu, up)
    down = tr.alloc(rows * dt)
    tr.free(sq)
    weighted = tr.alloc(rows * dt)
    ordered = tr.alloc(rows * dt)
    tr.free(weighted)
    summed = tr.alloc(rows * dt)
    tr.free(sel, down, ordered)
    normed, cast = _fp32_rms_norm(tr, rows, dt)
    tr.free(cast)
    gathered = tr.alloc(rows * FP32)  # weight[expert_ids]
    prod = tr.alloc(rows * FP32)
    tr.free(gathered)
    low = tr.alloc(rows * dt) if dt < FP32 else 0
    tr.free(prod if low else 0, normed, summed)
    weighted32 = tr.alloc(rows * FP32)  # · top_k_weights (fp32)
    per_token = tr.alloc(t * hidden * FP32)
    tr.free(weighted32)
    routed = tr.alloc(t * hidden * dt) if dt < FP32 else per_token
    tr.free(routes, low or prod, per_token if routed != per_token else 0)
    shared = _relu2_mlp(tr, t, hidden, moe.shared_size, dt)
    s_normed, cast = _fp32_rms_norm(tr, t * hidden, dt)
    s_scaled = tr.alloc(t * hidden * FP32)  # · weight
    tr.free(s_normed, cast)
    s_low = tr.alloc(t * hidden * dt) if dt < FP32 else s_scaled
    tr.free(s_scaled if s_low != s_scaled else 0, shared)
    out = tr.alloc(t * hidden * dt)
    tr.free(s_low, routed, logits)
    return out
