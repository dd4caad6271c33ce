"""Zamba's layers as the caching allocator sees them (issue 12, l12zamba), for the pool emulation of
``transformers_pool.py``: written from transformers 5.25 ``models/zamba/modeling_zamba.py`` and checked against the
simulator's allocation trace of the development case zamba-default-l8/gen-b2-s1200-new8 (sweep-dev.jsonl, moved there
from blind round 6; the generic replay had priced Mamba-2 scans, an MLP in every layer and no shared block).

Build: ``ZambaModel.__init__`` makes every hybrid layer its own ``ZambaAttentionDecoderLayer``; ``_tied_weights_keys``
ties every hybrid layer's ``shared_transf`` to the first one's, so the later copies are made and then freed (cached
blocks of the attention's and the MLP's weight sizes that the prefill's tensors reuse).

``ZambaModel.forward``: the embeddings and ``torch.clone`` of them, both kept to its end (no rotary tables, no mask
under SDPA; the Mamba layers' padding mask is None for an all-ones mask). ``ZambaHybridLayer.forward``: ``concatenate``
of the layer's input and the clone (2 × hidden, held as the shared block's argument until it returns), the shared
block (RMSNorm over 2 × hidden; q, k, v; the DynamicCache's copies of K and V; the SDPA kernel; ``o_proj``; the
pre-MLP RMSNorm; ``ZambaMLP`` gate, GELU, up, product, down), ``linear`` back to the hidden width, then the layer's
Mamba layer with that output added to its input before the norm. ``ZambaMambaDecoderLayer.forward``: the RMSNorm,
``ZambaMambaMixer.forward`` (below), the residual sum. The mixer: ``in_proj`` (the gate a view of it), the conv's
input made contiguous, the conv state's zeros, the padded ``conv1d`` and its SiLU; ``x_proj_weight[:, None] @ x``
(the weight broadcast to every sequence and x copied for the batched matmul), ``dt_proj_weight[:, None] @ time_step``
(the weight's copy); ``A = -exp(A_log)``; per head ``mamba_selective_scan``: ``dt + bias`` and its softplus,
``A·dt`` and its ``exp``, ``dt·B`` (B's fp32 copy), ``deltaB_u`` (x's fp32 copy), the sequential loop (one
``(b, P, 1)`` output per step kept in ``scan_outputs``, the fp32 state), their ``stack``, ``+ x·D`` and ``· silu(z)``
in fp32; the heads' ``cat``, the stacked final states and the cache's recurrent state, the output cast to the model
dtype, copied for ``out_proj`` and projected.
"""

from __future__ import annotations

from ...spec import LayerSpec, ModelSpec, SSMSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..ssm_activations import FP32
from .transformers_pool_attention import norm
from .transformers_pool_blocks import gated_mlp

__all__ = ["CLONED_EMBEDDINGS", "shared_block_copies", "zamba_block"]

CLONED_EMBEDDINGS = ("zamba",)  # ZambaModel.forward: original_hidden_states = torch.clone(inputs_embeds)
SMALL = 1 << 20  # requests up to 1 MiB go to the small pool (CUDACachingAllocator kSmallSize)


def shared_block_copies(spec: ModelSpec, dt: int) -> list[int]:
    """Bytes of the shared block's weight matrices each later hybrid layer makes before the tie frees them: q, k,
    v (attention width in, heads × head_dim out), o_proj, the MLP's gate, up and down."""
    hybrid = [layer for layer in spec.layers if layer.attention is not None and layer.mlp is not None]
    if spec.family != "zamba" or len(hybrid) < 2:
        return []
    att, mlp = hybrid[0].attention, hybrid[0].mlp
    assert att is not None and mlp is not None
    width, inner, h = att.num_heads * att.head_dim, mlp.intermediate_size, spec.hidden_size
    one = [2 * h * width * dt] * 3 + [width * h * dt] + [h * inner * dt] * 3
    return one * (len(hybrid) - 1)


def zamba_block(
    tr: Trace, spec: ModelSpec, wl: Workload, i: int, dt: int, kv: int, stream: int, emb: int
) -> tuple[int, list[int], int] | None:
    """Zamba's layer ``i`` of the prefill (None for other families): returns the new stream, the hybrid layer's K
    and V keys (the Mamba states are made inside and stay) and no held probabilities; frees the layer's input."""
    layer = spec.layers[i]
    if spec.family != "zamba" or layer.ssm is None:
        return None
    t, h = wl.batch * wl.context, spec.hidden_size
    kv_keys: list[int] = []
    shared = 0
    if layer.attention is not None:
        shared, kv_keys = _shared_block(tr, spec, layer, wl, dt)
        summed = tr.alloc(t * h * dt)  # hidden_states + transformer_hidden_states, gone once normed
        normed = norm(tr, spec, t * h, dt)
        tr.free(summed)
    else:
        normed = norm(tr, spec, t * h, dt)
    out = _mixer(tr, layer.ssm, wl.batch, wl.context, h, dt, wl.task != "forward")  # forward: no cache
    tr.free(normed)
    new = tr.alloc(t * h * dt)  # residual + mixer output
    tr.free(out, shared, stream if stream != emb else 0)
    return new, kv_keys, 0


def _shared_block(tr: Trace, spec: ModelSpec, layer: LayerSpec, wl: Workload, dt: int) -> tuple[int, list[int]]:
    """The concatenation, ``ZambaAttentionDecoderLayer`` and ``linear``: returns linear's output and K, V."""
    att, mlp = layer.attention, layer.mlp
    assert att is not None and mlp is not None
    t, h = wl.batch * wl.context, spec.hidden_size
    width = att.num_heads * att.head_dim
    cat = tr.alloc(2 * t * h * dt)
    normed = norm(tr, spec, 2 * t * h, dt)
    q, k, v = (tr.alloc(t * width * dt) for _ in range(3))
    kv_keys = [tr.alloc(t * width * dt), tr.alloc(t * width * dt)] if wl.task != "forward" else []
    if kv_keys:  # the cache's copies (torch.cat) replace the projections' outputs
        tr.free(k, v)
        k = v = 0
    attn = tr.alloc(t * width * dt)
    o = tr.alloc(t * h * dt)
    tr.free(attn, q, normed, k, v)
    normed = norm(tr, spec, t * h, dt)  # pre_ff_layernorm
    tr.free(o)
    down = gated_mlp(tr, t * mlp.intermediate_size * dt, t * h * dt, False)
    tr.free(normed, cat)
    out = tr.alloc(t * h * dt)  # linear
    tr.free(down)
    return out, kv_keys


def _mixer(tr: Trace, ssm: SSMSpec, b: int, s: int, h: int, dt: int, cached: bool) -> int:
    """``ZambaMambaMixer.forward`` on the normed input; returns out_proj's output (the cache's states stay)."""
    t, d, heads = b * s, ssm.d_inner, max(1, ssm.num_heads)
    p, rank = d // heads, ssm.dt_rank + 2 * ssm.d_state
    proj = tr.alloc(2 * t * d * dt)
    x = tr.alloc(t * d * dt)  # hidden_states_B_C.contiguous()
    tr.alloc(b * d * ssm.d_conv * dt if cached else 0)  # the cache's conv state (zeros), kept
    padded = tr.alloc(b * d * (s + ssm.d_conv - 1) * dt)
    act = tr.alloc(t * d * dt)
    tr.free(padded, x)
    w, xc = tr.alloc(heads * b * rank * p * dt), tr.alloc(t * d * dt)
    params = tr.alloc(t * heads * rank * dt)
    tr.free(xc, w)
    w = tr.alloc(heads * b * p * ssm.dt_rank * dt)
    steps = tr.alloc(t * d * dt)
    tr.free(w)
    e = tr.alloc(d * ssm.d_state * FP32)
    a = tr.alloc(d * ssm.d_state * FP32)
    tr.free(e)
    kept: list[int] = []
    for _ in range(heads):
        kept += _head(tr, ssm, b, s, p, dt, cached)
    scan = tr.alloc(t * d * FP32)  # torch.cat of the heads' outputs
    final = tr.alloc(b * d * ssm.d_state * FP32 if cached else 0)  # torch.stack of the final states
    tr.alloc(b * d * ssm.d_state * FP32 if cached else 0)  # the cache's recurrent state (zeros_like), kept
    low = tr.alloc(t * d * dt)  # .to(dtype) of the transposed output
    copy = tr.alloc(t * d * dt)  # made contiguous for out_proj
    out = tr.alloc(t * h * dt)
    tr.free(copy, low, act, proj, steps, params, a, scan, *kept, final)
    return out


def _head(tr: Trace, ssm: SSMSpec, b: int, s: int, p: int, dt: int, cached: bool) -> list[int]:
    """One head's ``mamba_selective_scan``: returns the keys of its fp32 output and, with a cache, its final state
    (``return_last_state``; without one the state dies with the function)."""
    x, n = b * s * p, ssm.d_state
    add = tr.alloc(x * dt)  # dt + delta_bias
    soft = tr.alloc(x * dt)
    tr.free(add)
    prod = tr.alloc(x * n * FP32)
    d_a = tr.alloc(x * n * FP32)  # exp(A·dt)
    tr.free(prod)
    b32 = tr.alloc(b * s * n * FP32)
    d_b = tr.alloc(x * n * FP32)
    tr.free(b32)
    u32 = tr.alloc(x * FP32)
    d_bu = tr.alloc(x * n * FP32)
    tr.free(u32)
    outs, state = _loop(tr, b * p, n, s, dt)
    stack = tr.alloc(x * dt)
    skip = tr.alloc(x * FP32)  # hidden_states * D (fp32)
    summed = tr.alloc(x * FP32)
    tr.free(skip, stack)
    gate = tr.alloc(x * dt)  # silu(z)
    y = tr.alloc(x * FP32)
    tr.free(gate, summed, soft, d_a, d_b, d_bu, *outs)
    if cached:  # return_last_state: the final state waits in final_states for the cache
        return [y, state]
    tr.free(state)
    return [y]


def _loop(tr: Trace, rows: int, n: int, s: int, dt: int) -> tuple[list[int], int]:
    """The sequential scan: each step's fp32 state (``discrete_A[:, :, i] * state + deltaB_u[:, :, i]``, the old one
    freed), its model-dtype copy and the ``(rows, 1)`` output kept in the list. The outputs of a small-pool size are
    replayed packed as 1 MiB runs (what the 2 MiB small segments hold of them); returns their keys and the state."""
    state = tr.alloc(rows * n * dt)  # torch.zeros in the input dtype
    step = -(-rows * dt // 512) * 512
    per = max(1, SMALL // step) if step <= SMALL else 1
    outs: list[int] = []
    done = 0
    while done < s:
        k = min(per, s - done)
        prod = tr.alloc(rows * n * FP32)
        new = tr.alloc(rows * n * FP32)
        tr.free(prod, state)
        state = new
        low = tr.alloc(rows * n * dt)
        outs.append(tr.alloc(k * step))
        tr.free(low)
        done += k
    return outs, state
