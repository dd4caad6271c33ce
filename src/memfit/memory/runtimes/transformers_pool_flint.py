"""Flint's eager attention as the caching allocator sees it (issue 12, l12arch2), for the pool emulation of
``transformers_pool_attention.py``: written from transformers 5.25 ``modeling_flint.py`` ``eager_attention_forward``
and checked against the simulator's allocation trace of the development case flint-default-l2/gen-eager-b2-s3000-new16
(sweep-dev.jsonl, moved there from blind round 5; the replay had priced the shared eager path's bf16 scores).

``repeat_kv`` copies K and V to every head; with autocast off, ``torch.matmul(query.float(),
key_states.float().transpose(2, 3))``: q and the repeated K copied to fp32 and K laid out for the batched matmul, the
fp32 scores (the copies freed), ``* scaling`` (the product freed), ``+ attention_mask`` (the scaled freed),
``torch.cat`` with the fp32 sink logits (one more column), ``F.softmax`` (the concatenation freed),
``[..., :-1].to(value_states.dtype)`` (the softmax and the masked scores freed once the probabilities are made; the
decoder layer's ``_`` holds them through its MLP), the output, then the repeated K/V and q go.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers_families import FP32_SINK_EAGER

__all__ = ["fp32_sinks_eager"]


def fp32_sinks_eager(tr: Trace, spec: ModelSpec, wl: Workload, keys: int, q: int, dt: int) -> int | None:
    """A FP32_SINK_EAGER layer's eager attention from its (held) q: returns the probabilities' key, which the layer
    holds, with q freed; None (nothing done) for other families or kernels."""
    att = spec.layers[0].attention
    if wl.attn != "eager" or spec.family not in FP32_SINK_EAGER or att is None:
        return None
    heads, s = wl.batch * att.num_heads, wl.context
    rows, scores = heads * s, heads * s * keys
    rep = [tr.alloc(heads * keys * d * dt) for d in (att.head_dim, att.value_dim)]  # repeat_kv
    copies = [tr.alloc(heads * n * att.head_dim * FP32) for n in (s, keys, keys)]  # q.float(), k.float(), k laid out
    raw = tr.alloc(scores * FP32)
    tr.free(*copies)
    scaled = tr.alloc(scores * FP32)
    tr.free(raw)
    masked = tr.alloc(scores * FP32)
    tr.free(scaled)
    cat = tr.alloc((scores + rows) * FP32)
    soft = tr.alloc((scores + rows) * FP32)
    tr.free(cat)
    probs = tr.alloc(scores * dt)
    tr.free(soft, masked)
    tr.free(tr.alloc(rows * att.value_dim * dt), *rep, q)  # the output, laid out by the caller's block
    return probs
