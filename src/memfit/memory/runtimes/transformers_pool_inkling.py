"""Inkling2-Loop's and Inkling-2's eager attention (issue 12, l12inkling): its relative position bias and its
input-dependent sinks, for the moment formula of ``transformers.py`` and the pool emulation of
``transformers_pool_attention.py``. Written
from transformers 5.25 ``models/inkling2_loop/modeling_inkling2_loop.py`` and checked against the simulator's
allocation trace of the development case inkling2-loop-text-default-l2/gen-eager-b2-s2048-new8 (sweep-dev.jsonl,
moved there from blind round 5 before its trace was read).

``Inkling2LoopSlidingAttention.forward`` / ``Inkling2LoopFullAttention.forward`` make, after q, k, v and the cache
update, ``position_bias = self.relative_position_bias(...)``: ``Inkling2LoopRelativePositionBias.forward`` projects
the layer input to ``heads × d_rel`` (``linear``), clips it (fp32 ``ScaledL2Clip``, cast back),
``relative_states @ proj`` (``b × s × heads × rel_extent``), gathers it by the clamped relative distance (an int64
``s × keys`` index) into ``b × heads × s × keys`` and ``masked_fill``s the distances outside the extent: a tensor of
the scores' shape in the model dtype, bound until the attention returns. ``sinks = self.sink_proj(hidden_states)``
(one logit per head and token). Then ``eager_attention_forward``: ``repeat_kv`` copies K and V to every head,
``torch.matmul(query, key.T) * scaling`` (model dtype), ``+ position_bias``, ``+ attention_mask``,
``combined_logits = torch.cat([attn_weights, sinks], -1).float()`` (the model-dtype concatenation freed once its
fp32 copy is made; ``combined_logits`` is a local, alive until the function returns), ``F.softmax(combined_logits)``,
``[..., :-1].to(query.dtype)``: at that cast the bias, the masked scores (``attn_weights`` is rebound only after it),
the fp32 concatenation, the fp32 softmax and the new probabilities are alive. The decoder layers bind the returned
probabilities to ``_`` through their MLP.
"""

from __future__ import annotations

from ...spec import AttentionSpec, ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers_inkling_text import rel_logits_sdpa_pool
from .transformers_pool_flint import fp32_sinks_eager

__all__ = ["REL_BIAS_SINK_EAGER", "block_states_bytes", "own_sinks_eager", "rel_bias_sinks_moment",
           "relative_distance_bytes"]

# Families whose eager attention adds a relative position bias of the scores' shape and softmaxes the fp32
# concatenation of the scores with input-dependent sink logits (transformers 5.25 modeling_inkling2_loop.py;
# modeling_inkling2.py has the same Inkling2SlidingAttention / Inkling2FullAttention, RelativePositionBias,
# eager_attention_forward, BlockAttentionResidual and TextModel.forward masks and distances, without the loop)
REL_BIAS_SINK_EAGER = ("inkling2_loop_text", "inkling2_loop", "inkling2_text", "inkling2")
INT64 = 8
# n_layers_per_attn_res_block: Inkling2LoopTextConfig's default (the spec does not carry the field)
BLOCK_LAYERS = 6


def relative_distance_bytes(spec: ModelSpec, s: int, keys: int) -> int:
    """``Inkling2LoopTextModel.forward``'s ``relative_distance_mapping``: ``get_relative_distance`` for the full and
    the sliding layers, each an int64 ``q_positions[:, None] - kv_positions[None, :]`` of ``s × keys``, made before
    the first layer and alive through the forward (like the masks); 0 for other families."""
    return 2 * s * keys * INT64 if spec.family in REL_BIAS_SINK_EAGER else 0


def block_states_bytes(spec: ModelSpec, i: int, t: int, h: int, dt: int) -> tuple[int, int]:
    """Layer ``i``'s block attention residual for ``t`` tokens: (``block_states``, its attention input). The model
    appends the input of every block-boundary layer (``layer_idx % n_layers_per_attn_res_block == 0``) to
    ``block_states`` (``torch.cat``, model dtype, alive through the forward), so layer ``i`` sees one block per
    boundary before it; a layer past the first reads its attention input from them
    (``Inkling2LoopBlockAttentionResidual``: an fp32 ``t × h`` tensor bound to ``hidden_states`` until the
    attention's output replaces it). (0, 0) for other families and for layer 0."""
    if spec.family not in REL_BIAS_SINK_EAGER or i == 0:
        return 0, 0
    return ((i - 1) // BLOCK_LAYERS + 1) * t * h * dt, t * h * FP32


def _per_score(dt: int) -> int:
    """Bytes per score alive at the probabilities' cast: the bias and the masked scores (model dtype), the fp32
    concatenation and its softmax, the probabilities (a new tensor unless the model is fp32: ``.to`` of an fp32
    slice to fp32 is the slice itself, and ``.float()`` of the fp32 concatenation is the concatenation)."""
    return 2 * dt + 2 * FP32 + (dt if dt != FP32 else 0)


def rel_bias_sinks_moment(att: AttentionSpec, b: int, s: int, keys: int, dt: int) -> tuple[int, str]:
    """The eager attention's peak for ``b`` sequences of ``s`` queries over ``keys`` keys: q, the repeated K/V, the
    sink logits, the score-sized tensors of :func:`_per_score` and the sink column of the fp32 concatenation and
    softmax."""
    rows = b * att.num_heads * s
    q = rows * att.head_dim * dt
    rep = b * att.num_heads * keys * (att.head_dim + att.value_dim) * dt
    per = _per_score(dt)
    got = q + rep + rows * dt + rows * keys * per + 2 * rows * FP32
    return got, (f"q + repeated K/V + sinks + scores {b}×{att.num_heads}×{s}×{keys} × {per} B (relative position "
                 "bias, masked scores, fp32 cat with the sinks, fp32 softmax, probabilities)")


def _bias_shape(spec: ModelSpec, i: int) -> tuple[int, int]:
    """Layer ``i``'s ``relative_position_bias.proj`` shape, (d_rel, rel_extent), from the parameter tensors of
    transformers' own build (the generic path's tensor source); (16, 1024), the config's defaults, without one."""
    if spec.tensor_source is not None:
        for t in spec.tensor_source.tensors(spec):
            if t.layer == i and t.name.endswith("relative_position_bias.proj") and len(t.shape) == 2:
                return int(t.shape[0]), int(t.shape[1])
    return 16, 1024


def _bias(tr: Trace, spec: ModelSpec, att: AttentionSpec, wl: Workload, i: int, keys: int, dt: int) -> int:
    """``Inkling2LoopRelativePositionBias.forward``: returns the bias's key (the rest freed)."""
    tokens, heads = wl.batch * wl.context, att.num_heads
    d_rel, extent = _bias_shape(spec, i)
    rel = tr.alloc(tokens * heads * d_rel * dt)  # linear
    f32 = tr.alloc(tokens * heads * d_rel * FP32)  # .float() * scale
    clipped = tr.alloc(tokens * heads * d_rel * dt)  # the clip, cast back
    tr.free(rel, f32)
    logits = tr.alloc(tokens * heads * extent * dt)  # relative_states @ proj
    index = tr.alloc(wl.context * keys * INT64)  # relative_distance.clamp
    scores = wl.batch * heads * wl.context * keys
    gathered = tr.alloc(scores * dt)
    conds = [tr.alloc(wl.context * keys) for _ in range(3)]  # < 0, >= rel_extent, |
    bias = tr.alloc(scores * dt)  # masked_fill
    tr.free(gathered, *conds, index, logits, clipped)
    return bias


def own_sinks_eager(tr: Trace, spec: ModelSpec, wl: Workload, i: int, keys: int, q: int, dt: int) -> int | None:
    """Layer ``i``'s eager attention with sinks of a family's own code (Flint's, transformers_pool_flint.py, or
    this module's) from its (held) q: returns the probabilities' key, which the layer holds, with q freed; Inkling's
    SDPA attention with its relative position bias (transformers_inkling_text.py): 0, nothing held; None (nothing
    done) for other families or kernels."""
    flint = fp32_sinks_eager(tr, spec, wl, keys, q, dt)
    if flint is not None:
        return flint
    if rel_logits_sdpa_pool(tr, spec, wl, i, keys, q, dt):  # Inkling's relative position bias under SDPA
        return 0
    att = spec.layers[i].attention
    if wl.attn != "eager" or spec.family not in REL_BIAS_SINK_EAGER or att is None:
        return None
    heads, s = wl.batch * att.num_heads, wl.context
    rows, scores = heads * s, heads * s * keys
    bias = _bias(tr, spec, att, wl, i, keys, dt)
    sinks = tr.alloc(rows * dt)  # sink_proj
    rep = [tr.alloc(heads * keys * d * dt) for d in (att.head_dim, att.value_dim)]  # repeat_kv
    raw = tr.alloc(scores * dt)
    scaled = tr.alloc(scores * dt)
    tr.free(raw)
    biased = tr.alloc(scores * dt)
    tr.free(scaled)
    masked = tr.alloc(scores * dt)
    tr.free(biased)
    cat = tr.alloc((scores + rows) * dt)
    combined = cat
    if dt != FP32:
        combined = tr.alloc((scores + rows) * FP32)
        tr.free(cat)
    soft = tr.alloc((scores + rows) * FP32)
    probs = soft
    if dt != FP32:
        probs = tr.alloc(scores * dt)
        tr.free(soft)
    tr.free(masked)
    tr.free(tr.alloc(rows * att.value_dim * dt), combined, *rep, q, sinks, bias)  # the output; the locals go
    return probs
