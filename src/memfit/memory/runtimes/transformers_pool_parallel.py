"""CodeGen's block as the caching allocator sees it (issue 12, l12sweep2), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``modeling_codegen.py`` and checked against the simulator's
allocation trace of the development case codegen-default-l3/fwd-fp16-b2-s1536 (sweep-dev.jsonl; the replay had priced
a Llama block and a coarse plain MLP: device total -6.70 %).

``CodeGenBlock.forward`` is a parallel block: ``ln_1``, then the attention and the MLP both read the normed input, and
``attn_output + feed_forward_hidden_states + residual`` makes the new residual (two sums).
``CodeGenAttention.forward``: ``qkv_proj`` (3 h), query, key and value reshaped out of its mp_num split (each a copy),
the rotary part of key, then of query, rotated in fp32 (``apply_rotary_pos_emb``: ``x·cos`` against the fp32 sin/cos
table, ``rotate_every_two``'s negated half and stack, ``·sin``, the sum), each concatenated with its pass-through part
(fp32), then cast back to the model dtype; SDPA's kernel, ``out_proj``; every local lives until the attention returns.
``CodeGenMLP``: ``fc_in``, NewGELU's Python chain (``0.5·x`` kept, ``x³``, ``·0.044715``, ``x +``, ``·√(2/π)``,
``tanh``, ``1 +``, the product: four intermediate-sized tensors at its widest, ``fc_in``'s output freed when the
activation returns), ``fc_out``.
"""

from __future__ import annotations

import json

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..gelu_chain import new_gelu_no_grad

__all__ = ["CODEGEN_BLOCK", "codegen_block"]

CODEGEN_BLOCK = ("codegen",)
FP32 = 4


def _rotary_dim(spec: ModelSpec, head_dim: int) -> int:
    """The config's ``rotary_dim`` (CodeGen rotates that many features of each head; all of them when unset)."""
    config_json = getattr(spec.tensor_source, "config_json", None)
    value = json.loads(config_json).get("rotary_dim") if isinstance(config_json, str) else None
    return value if isinstance(value, int) and 0 < value <= head_dim else head_dim


def _rotated(tr: Trace, n: int, dt: int) -> int:
    """``x·cos + rotate_every_two(x)·sin`` on ``n`` rotary elements in the model dtype against fp32 tables."""
    cos = tr.alloc(n * FP32)
    neg = tr.alloc(n // 2 * dt)
    stacked = tr.alloc(n * dt)
    tr.free(neg)
    sin = tr.alloc(n * FP32)
    tr.free(stacked)
    out = tr.alloc(n * FP32)
    tr.free(cos, sin)
    return out


def codegen_block(tr: Trace, spec: ModelSpec, wl: Workload, i: int, t: int, dt: int, kv: int,
                  stream: int, emb: int) -> tuple[int, list[int]]:
    """One CodeGen block on ``t`` tokens under SDPA without a mask (see the module docstring); returns the new
    residual stream and the layer's K/V keys (the block's input goes here unless it is the embedding)."""
    layer, h = spec.layers[i], spec.hidden_size
    att, mlp = layer.attention, layer.mlp
    assert att is not None and mlp is not None
    n = t * h * dt
    normed = tr.alloc(n)  # ln_1
    qkv = tr.alloc(3 * n)
    query, key, value = tr.alloc(n), tr.alloc(n), tr.alloc(n)
    rot = t * att.num_heads * _rotary_dim(spec, att.head_dim)
    k_rot = _rotated(tr, rot, dt)
    q_rot = _rotated(tr, rot, dt)
    k_cat = tr.alloc(t * h * FP32)
    q_cat = tr.alloc(t * h * FP32)
    q_low = tr.alloc(n)
    tr.free(q_cat)
    k_low = tr.alloc(n)
    tr.free(k_cat)
    kv_keys: list[int] = []
    if kv and wl.task != "forward":  # DynamicLayer.update: torch.cat copies K and V into the cache
        kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)]
        tr.free(k_low, value)
        k_low = value = 0
    out = tr.alloc(n)  # the kernel's output, laid out (b, s, heads, d): reshape copies nothing
    attn = tr.alloc(n)  # out_proj
    tr.free(out, qkv, query, key, value, k_rot, q_rot, q_low, k_low)
    inner = t * mlp.intermediate_size * dt
    act = new_gelu_no_grad(tr, tr.alloc(inner), inner)  # fc_in, then NewGELU's chain
    ff = tr.alloc(n)  # fc_out
    tr.free(act)
    partial = tr.alloc(n)
    new = tr.alloc(n)
    tr.free(partial, ff, attn, normed, stream if stream != emb else 0)
    return new, kv_keys
