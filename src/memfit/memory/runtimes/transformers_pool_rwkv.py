"""RWKV's block as the caching allocator sees it (issue 12, l12rwkv), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``models/rwkv/modeling_rwkv.py`` (``memory/rwkv.py`` has
the mechanism) and checked against the simulator's allocation trace of the development case
rwkv-default-l2/gen-eager-b2-s900-new8 (sweep-dev.jsonl), tensor for tensor at ``b × s × hidden`` and
``b × s × intermediate`` (the WKV loop's per-step vectors and the state are small-pool blocks: not replayed).

``RwkvBlock.forward``: layer 0 norms its input first (``pre_ln``, the embeddings stay with the model); ``ln1``, the time
mixing, ``hidden + attention`` (``attention`` held to the block's end); ``ln2``, the channel mixing, ``hidden +
feed_forward``. ``RwkvSelfAttention``: the shift (``ZeroPad2d``), for key, value and receptance ``x·μ``, ``shift·(1 −
μ)`` and their sum; then the projections, each mix freed once its projection is bound to the same name (receptance's
projection freed after its sigmoid); the shift goes when ``extract_key_value`` returns; ``zeros_like(key)`` for the
loop's output; ``receptance * rwkv`` and ``output``; then receptance, key, value and the loop's output go, then the
normed input. ``RwkvFeedForward``: the shift, the key and receptance mixes, ``key``'s projection, its relu (the
projection goes), the square (the relu and the key mix go), ``value``, receptance's projection and sigmoid, their
product.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ..allocator_trace import Trace
from .transformers_pool_attention import norm

__all__ = ["rwkv_block"]


def _mix(tr: Trace, one: int) -> int:
    """``x·μ + shift·(1 − μ)``: the two products, their sum; the products go."""
    a, b = tr.alloc(one), tr.alloc(one)
    mix = tr.alloc(one)
    tr.free(a, b)
    return mix


def _time_mix(tr: Trace, one: int) -> int:
    """From the normed input to the output projection; returns the output's key."""
    shift = tr.alloc(one)
    kmix, vmix, rmix = _mix(tr, one), _mix(tr, one), _mix(tr, one)
    keys = []
    for mix in (kmix, vmix):  # key, value: the mix goes once its projection is bound to its name
        keys.append(tr.alloc(one))
        tr.free(mix)
    lin = tr.alloc(one)
    keys.append(tr.alloc(one))  # sigmoid(receptance(·))
    tr.free(lin, rmix, shift)
    wkv = tr.alloc(one)  # rwkv_linear_attention_cpu's zeros_like(key)
    prod = tr.alloc(one)
    out = tr.alloc(one)
    tr.free(prod, *keys, wkv)
    return out


def _channel_mix(tr: Trace, one: int, inner: int) -> int:
    """From the normed input to ``receptance * value``; returns its key."""
    shift = tr.alloc(one)
    kmix, rmix = _mix(tr, one), _mix(tr, one)
    lin = tr.alloc(inner)
    relu = tr.alloc(inner)
    tr.free(lin)
    square = tr.alloc(inner)
    tr.free(relu, kmix)
    value = tr.alloc(one)
    lin = tr.alloc(one)
    receptance = tr.alloc(one)
    tr.free(lin, rmix)
    out = tr.alloc(one)
    tr.free(square, value, receptance, shift)
    return out


def rwkv_block(
    tr: Trace, spec: ModelSpec, i: int, t: int, dt: int, kv: int, stream: int, emb: int
) -> tuple[int, list[int]]:
    """Block ``i`` on ``t`` tokens from the residual ``stream`` (the embeddings ``emb`` for the first); returns the
    new stream and the block's state key (``kv`` bytes, 0: none)."""
    layer, h = spec.layers[i], spec.hidden_size
    one = t * h * dt
    kv_keys = [tr.alloc(kv)] if kv else []
    hidden = norm(tr, spec, t * h, dt) if i == 0 else stream  # pre_ln
    normed = norm(tr, spec, t * h, dt)
    attention = _time_mix(tr, one)
    tr.free(normed)
    residual = tr.alloc(one)
    tr.free(hidden if hidden != stream else 0)
    normed = norm(tr, spec, t * h, dt)
    inner = t * (layer.mlp.intermediate_size if layer.mlp is not None else 4 * h) * dt
    ff = _channel_mix(tr, one, inner)
    tr.free(normed)
    new = tr.alloc(one)
    tr.free(residual, attention, ff, stream if stream != emb else 0)
    return new, kv_keys
