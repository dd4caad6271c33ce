"""Rank 0's caching-allocator pool under FSDP2 (``fully_shard``), replayed from the mechanism: the reserve
``nvidia-smi`` shows beyond the allocated peak, per rank, in place of a fitted fraction.

Two training steps are described as the allocations and frees PyTorch makes, each on the CUDA stream it is made
on, and replayed through the project's caching-allocator emulation (``memory/caching_allocator.py``), one
allocator per stream: c10/cuda/CUDACachingAllocator.cpp keeps each block on the stream it was allocated on
(``Block::stream``; ``get_free_block`` only returns a cached block of the requesting stream), so a segment made for
one stream never serves another. What goes where (torch 2.13 ``torch/distributed/fsdp/_fully_shard``):

* build: the cuBLAS workspaces, then each parameter's padded local shard (``FSDPParam._init_sharded_param``), as a
  meta-device build materialises them (``to_empty``), on the default stream;
* all-gather, per group: its flat output on the all-gather copy-in stream (``foreach_all_gather``: ``with
  device_handle.stream(all_gather_copy_in_stream)``), then on the default stream one unsharded tensor per parameter
  (``foreach_all_gather_copy_out``: ``alloc_all_gather_outputs``, a storage ``resize_``); the flat output goes at
  the next group's copy-out; resharding frees the unsharded tensors;
* backward, per group: one gradient per parameter in the compute dtype; ``foreach_reduce``'s reduce-scatter input
  on the default stream, held to the next group's post-backward (``reduce_scatter_states``); its output on the
  reduce-scatter stream (``with device_handle.stream(reduce_scatter_stream)``): the sharded gradients are views of
  it and live to ``zero_grad``; the group's last gradient is freed when ``foreach_reduce`` returns;
* the optimizer's states (AdamW: two per parameter, the shard's size), made at the first step on the default stream.

Activations are replayed at the grain of the one-GPU replay (``pool.py``): the layers' saved tensors, the loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ...spec import ModelSpec
from ..activations import LayerActivations, ModelActivations, Precision
from ..allocator_trace import CUBLAS_WORKSPACE, PoolFigures, Trace
from ..runtimes.transformers_families import SOFTCAPPED_LOGITS
from .fsdp_params import Param, backward_order, layer_params, param_order
from .fsdp_streams import COPY_IN, DEFAULT, REDUCE, StreamTrace
from .layer_grads import layer_backward
from .layer_ops import norm
from .layer_sp import sp_gather, tp_whole
from .layer_stream import LayerRun, StepContext, layer_forward

__all__ = ["COPY_IN", "DEFAULT", "REDUCE", "ReplayInput", "StreamTrace", "fsdp_pool", "pool_reserve"]

MAX_PIECES = 64  # hidden-sized saved tensors a layer is held as at most (a MoE layer saves hundreds)


def _saved_coarse(tr: Trace, la: LayerActivations, inner: int, hidden: int) -> list[int]:
    """A layer's saved tensors at a coarse grain (the MLP intermediates, at most four, then hidden-sized ones): the
    per-rank replay holds a layer this way; the one-GPU step (``pool.py``) replays it op by op."""
    n_i = min(4, la.saved // inner) if inner else 0
    keys = [tr.alloc(inner) for _ in range(n_i)]
    rest = la.saved - n_i * inner
    n_h = min(MAX_PIECES, max(1, rest // hidden)) if hidden else 1
    keys += [tr.alloc(rest // n_h) for _ in range(n_h)]
    return keys


@dataclass(frozen=True)
class ReplayInput:
    """What the replay needs beyond the groups: bytes per element and the step's shape."""

    groups: tuple[tuple[Param, ...], ...]
    acts: ModelActivations
    compute_bytes: int
    reduce_bytes: int
    param_bytes: int  # sharded parameters and gradients (0 when CPUOffloadPolicy keeps them on the host)
    state_bytes_per_param: float  # optimizer states per sharded element (0 on the host)
    reshard: bool
    full_ckpt: bool  # each layer recomputed in backward (full checkpointing, torchtitan's op-level SAC)
    tokens: int
    hidden: int
    vocab: int
    inner: int  # the MLP intermediate per TP rank
    embed_extra: int  # TP: the whole embedding gradient's elements beyond the local shard
    tied: bool  # the lm_head is the embedding (the root's first parameter)
    grad_accum: int = 1
    fsdp: bool = True  # False: DTensor TP alone (local parameters kept whole, gradients kept to the step)
    casts: bool = False  # TP alone under autocast: each weight's bf16 copy, kept for backward
    tp: int = 1
    kept: tuple[int, ...] = ()  # per layer, what a recomputed layer keeps to its backward (default: its input)
    expandable: bool = False  # expandable_segments:True: each stream's pools grow one segment by pages
    spec: ModelSpec | None = None  # given: each layer replayed op by op (``layer_stream``), else coarsely
    precision: Precision | None = None  # the layers' dtypes on this rank (FSDP: the compute dtype, no autocast)
    batch: int = 0
    seq: int = 0
    masks: tuple[tuple[int, int], ...] = ()  # eager + full checkpointing: (bytes, first layer reading it) per mask
    sp: bool = False  # sequence parallelism (TP): the stream and the norms hold the rank's sequence shard
    step_bytes_per_param: float = 0.0  # foreach AdamW: _foreach_sqrt's temporary per sharded element, one per tensor
    selective: bool = False  # the attention kernel under torch.utils.checkpoint, run again in backward
    adapters: tuple[tuple[Param, ...], ...] = ()  # LoRA (fsdp_lora_pool): the trainable adapters per group, fp32


@lru_cache(maxsize=256)
def fsdp_pool(r: ReplayInput) -> PoolFigures:
    """Two training steps of rank 0 (peaks from the end of the build, as the simulator's second step)."""
    tr = StreamTrace(r.expandable)
    tr.alloc(CUBLAS_WORKSPACE)
    tr.alloc(CUBLAS_WORKSPACE)
    for g in r.groups:
        for p in g:
            tr.alloc((p.sharded if r.fsdp else p.local) * r.param_bytes)
    tr.built()
    states: list[int] = []
    for step in range(2):
        grads: list[int] = []
        for _ in range(r.grad_accum):
            grads = _forward_backward_ops(tr, r, grads) if r.spec is not None else _forward_backward(tr, r, grads)
        if step == 0 and r.state_bytes_per_param:  # AdamW: exp_avg, exp_avg_sq per parameter, zeros_like(param)
            pieces = max(1, round(r.state_bytes_per_param / (r.param_bytes or 4)))
            each = r.state_bytes_per_param / pieces
            # in ``model.parameters()`` order (the embedding, the layers, the final norm and lm_head), as
            # ``_init_group`` walks them: where the states land decides which freed blocks the next step finds
            root = r.groups[-1]
            order = [*root[:1], *(p for g in r.groups[:-1] for p in g), *root[1:]]
            states = [tr.alloc(int((p.sharded if r.fsdp else p.local) * each)) for p in order for _ in range(pieces)]
        if r.step_bytes_per_param:  # torch/optim/adam.py _multi_tensor_adam: exp_avg_sq_sqrt, freed after the update
            tr.free(*[tr.alloc(int((p.sharded if r.fsdp else p.local) * r.step_bytes_per_param))
                      for g in r.groups for p in g])
        tr.free(*grads)
    del states
    return tr.figures()


def pool_reserve(r: ReplayInput, allocated: int) -> int:
    """What a rank's device total adds to memfit's allocated peak ``allocated``: the replayed step's reserved peak
    beyond it. A replay of every layer op by op holds each tensor at its own size, so its reserved peak is the
    device's; a coarse one (a layer's saved tensors as a few pieces) also adds at least its own reserve beyond its
    own allocated peak (development cases: the SP and FSDP x TP ranks, whose allocated moments ran up to 3 % over the
    op-by-op replay's, had that 3 % added again)."""
    pool = fsdp_pool(r)
    return max(0 if r.spec is not None else pool.reserve, pool.peak_reserved - allocated)


def _gather(tr: StreamTrace, r: ReplayInput, group: tuple[Param, ...]) -> tuple[int, list[int]]:
    """All-gather one group: its flat output (copy-in stream), then its unsharded parameters (default). TP alone:
    autocast's bf16 copy of each weight matrix (the norms stay fp32)."""
    if not r.fsdp:
        return 0, [tr.alloc(p.local * 2) for p in group if r.casts and p.local > r.hidden]
    # mixed precision: ``_get_param_all_gather_inputs``' foreach-copy path casts the group's shards into one flat
    # buffer of the compute dtype first (not when the shards are already in it, nor under CPU offload), freed once
    # copied into the flat output (the simulator's trace of row 6 of plan-checks.jsonl, mistral-7b-v0.3 on 3 L40S)
    flat = _all_gather(tr, r, group)
    return flat, [tr.alloc(p.gathered * r.compute_bytes) for p in group]


def _all_gather(tr: StreamTrace, r: ReplayInput, group: tuple[Param, ...]) -> int:
    """A group's all-gather on the copy-in stream (its mixed-precision cast buffer, then its flat output); 0 for
    none. In backward the next group's is prefetched when the current one's pre-backward runs (the root's: before
    the loss's backward), and freed right after its own copy-out (``FSDPParamGroup.unshard``: outside the forward
    the result is not kept in ``AllGatherState``; the simulator's trace of dev llama-2-7b-hf-l4/fsdp4-tp2-accum2)."""
    if not group:
        return 0
    cast = tr.on(COPY_IN, sum(p.sharded for p in group) * r.compute_bytes) \
        if r.param_bytes and r.param_bytes != r.compute_bytes else 0
    flat = tr.on(COPY_IN, sum(p.gathered for p in group) * r.compute_bytes)
    tr.free(cast)
    return flat


def _reduce(tr: StreamTrace, r: ReplayInput, group: tuple[Param, ...], grads: list[int], held: list[int],
            sharded: list[int] | None) -> int:
    """A group's post-backward once autograd made its gradients (``grads``, one per parameter): the previous
    reduce-scatter input dropped, this one made, the gradients dropped but the last, the output on the
    reduce-scatter stream (the new sharded gradient, kept in ``sharded``; with ``None`` added in place to the one
    of an earlier micro-batch, or copied to the host), the last gradient dropped when ``foreach_reduce`` returns.
    Returns the reduce-scatter input's key (held to the next group's post-backward). TP alone: the gradients
    stay to the step (in ``sharded``)."""
    if not r.fsdp:
        if sharded is None:  # added in place into the earlier micro-batches' gradients
            tr.free(*grads)
        else:
            sharded.extend(grads)
        return 0
    if not group:  # nothing trains in the group (LoRA: no adapter there): no post-backward reduce
        return held[0] if held else 0
    tr.free(*held)
    rs_in = tr.alloc(sum(p.gathered for p in group) * r.reduce_bytes)
    tr.free(*grads[:-1])
    out = tr.on(REDUCE, sum(p.sharded for p in group) * r.reduce_bytes)
    if r.param_bytes != r.reduce_bytes and r.param_bytes and not r.adapters:  # fp32 adapters: fp32 shards
        cast = tr.on(REDUCE, sum(p.sharded for p in group) * r.param_bytes)
        tr.free(out)
        out = cast
    if sharded is None or not r.param_bytes:
        tr.free(out)
    else:
        sharded.append(out)
    tr.free(grads[-1])
    return rs_in


def _loss(tr: StreamTrace, r: ReplayInput, prev: int, read: int = 0, prefetch: tuple[Param, ...] = ()
          ) -> tuple[int, int]:
    """Logits, their fp32 copy, the fp32 log-softmax kept; its backward. Under TP the lm_head's local logits
    (``Shard(-1)``) are gathered to ``Replicate``: an all-gather along dim 0, then the chunks concatenated along the
    vocabulary (``torch/distributed/tensor/_redistribute.py``); backward takes the local slice of the gradient.
    ``read``, the lm_head's input its matmul does not keep (SP under autocast), dies with the gather; ``prefetch``,
    the group the root's pre-backward all-gathers before the loss's backward. Returns the logits' gradient in the
    compute dtype (the lm_head's backward reads it while it makes its input's and its weight's gradients; the caller
    frees it then) and the prefetched all-gather output."""
    n_logits, cb = r.tokens * r.vocab, r.compute_bytes
    if r.tp > 1:
        local = tr.alloc(-(-r.vocab // r.tp) * r.tokens * cb)
        gathered = tr.alloc(n_logits * cb)
        logits = tr.alloc(n_logits * cb)
        tr.free(local, gathered, read)  # ``read``: the lm_head's input, when only its autocast cast is kept
    else:
        logits = tr.alloc(n_logits * cb)
    capped = r.spec is not None and r.spec.family in SOFTCAPPED_LOGITS
    kept = 0
    if capped:  # final_logit_softcapping: logits / cap, tanh (its output kept), x cap, each a new tensor
        div = tr.alloc(n_logits * cb)
        tr.free(logits)
        kept = tr.alloc(n_logits * cb)
        tr.free(div)
        logits = tr.alloc(n_logits * cb)
    f32 = tr.alloc(n_logits * 4)
    ls = tr.alloc(n_logits * 4)
    tr.free(f32, logits, prev)
    nxt = _all_gather(tr, r, prefetch)
    g1, g2 = tr.alloc(n_logits * 4), tr.alloc(n_logits * 4)
    tr.free(g1, ls)
    low = tr.alloc(n_logits * cb)
    tr.free(g2)
    if capped:  # x cap's, tanh's and / cap's gradients (the simulator's trace of dev gemma-2-9b-l4/fsdp8-ckpt)
        for _ in range(3):
            nxt = tr.alloc(n_logits * cb)
            tr.free(low, kept)
            low, kept = nxt, 0
    if r.tp > 1:
        part = tr.alloc(-(-r.vocab // r.tp) * r.tokens * cb)
        tr.free(low)
        low = part
    return low, nxt


def _forward_backward(tr: StreamTrace, r: ReplayInput, grads: list[int]) -> list[int]:
    """One micro-batch: forward (gathering each layer), the loss, backward (gathering again, reducing). ``grads``:
    the sharded gradients of earlier micro-batches (accumulated into in place)."""
    cb, n = r.compute_bytes, len(r.groups) - 1
    layers, root = r.groups[:n], r.groups[n]
    sharded: list[int] | None = None if grads else []
    hid = r.tokens * r.hidden * cb
    prev, root_params = _gather(tr, r, root)
    masks = {tr.alloc(m): first for m, first in r.masks}
    prev, params, kept = forward_layers(tr, r, layers, prev)
    low, nxt = _loss(tr, r, prev, prefetch=layers[-1] if r.fsdp and r.reshard and n else ())
    gb = cb if r.fsdp else r.param_bytes  # autograd's gradients: the compute dtype, or the fp32 parameters'
    head = _head_grad(tr, r, root, low)
    held: list[int] = []
    for i in range(n - 1, -1, -1):
        la = r.acts.layers[i]
        flat = 0
        if r.reshard and r.fsdp:  # copy-out, its all-gather output dropped, the next group's prefetched
            params[i] = [tr.alloc(p.gathered * cb) for p in layers[i]]
            tr.free(nxt)
            nxt = _all_gather(tr, r, layers[i - 1] if i else ())
        elif r.reshard:
            flat, params[i] = _gather(tr, r, layers[i])
        if r.full_ckpt:
            kept[i] += _saved_coarse(tr, la, r.tokens * r.inner * cb, hid)
        extra = tr.alloc(la.backward_extra)
        g = [tr.alloc(p.local * gb) for p in layers[i]]
        tr.free(extra, *kept[i], flat, *(k for k, f in masks.items() if f == i))
        tr.free(*params[i])
        held = [_reduce(tr, r, layers[i], g, held, sharded)]
    return _root_backward(tr, r, root, root_params, head, held, sharded, grads)


def forward_layers(tr: StreamTrace, r: ReplayInput, layers: tuple[tuple[Param, ...], ...],
                   prev: int) -> tuple[int, list[list[int]], list[list[int]]]:
    """The layers' forward: each group gathered (the previous all-gather output freed), its saved activations
    (a recomputed layer keeps only its input), its parameters freed under reshard-after-forward. Returns the last
    all-gather output, the parameters kept per layer and the activations kept per layer."""
    cb, hid = r.compute_bytes, r.tokens * r.hidden * r.compute_bytes
    params: list[list[int]] = []
    kept: list[list[int]] = []
    for i, la in enumerate(r.acts.layers):
        flat, ps = _gather(tr, r, layers[i])
        tr.free(prev)
        prev = flat
        saved = _saved_coarse(tr, la, r.tokens * r.inner * cb, hid)
        tr.free(tr.alloc(la.forward_extra))
        if r.full_ckpt:
            tr.free(*saved)
            saved = [tr.alloc(r.kept[i] if r.kept else la.checkpoint)]
        kept.append(saved)
        if r.reshard:
            tr.free(*ps)
            ps = []
        params.append(ps)
    return prev, params, kept


def _head_grad(tr: StreamTrace, r: ReplayInput, root: tuple[Param, ...], low: int) -> int:
    """The lm_head's gradient, made while the logits' gradient ``low`` lives; under autocast (TP alone) the matmul
    makes the bf16 weight copy's gradient, then the fp32 ``.grad`` once the node is done."""
    n_head = (root[0] if r.tied else root[-1]).local
    gb = r.compute_bytes if r.fsdp else r.param_bytes
    if r.casts:
        low_w = tr.alloc(n_head * r.compute_bytes)
        tr.free(low)
        head = tr.alloc(n_head * gb)
        tr.free(low_w)
    else:
        head = tr.alloc(n_head * gb)
        tr.free(low)
    return head


def _root_backward(tr: StreamTrace, r: ReplayInput, root: tuple[Param, ...], root_params: list[int], head: int,
                   held: list[int], sharded: list[int] | None, grads: list[int], whole: int = 0) -> list[int]:
    """The embedding's backward (a tied one added to the lm_head's gradient), the root's reduce-scatter; ``whole``:
    its output gradient all-gathered (SP), dropped once the embedding's gradient is made."""
    cb = r.compute_bytes
    gb = cb if r.fsdp else r.param_bytes
    # DTensor's embedding backward makes the whole vocabulary's gradient under a tied lm_head too, before its local
    # shard is added to the lm_head's (the simulator's trace of dev qwen2.5-3b-l6/tp2-b1-s4096)
    tied_extra = (r.vocab - -(-r.vocab // r.tp)) * r.hidden if r.tp > 1 and r.tied else 0
    embed_bytes = (root[0].local + r.embed_extra + tied_extra) * gb
    # the one-GPU extra counts a tied embedding's dense V x h gradient; under FSDP that gradient is ``embed`` itself
    # (``embedding_dense_backward``'s output, in the compute dtype), not a second tensor beside it (the simulator's
    # trace of dev qwen2.5-3b-l6/fsdp4-foreach-ckpt-b1-s1024: one 622 MB malloc there, then the tied add's)
    extra = r.acts.embedding_backward_extra
    if r.fsdp and r.tied and r.tp == 1:
        extra = max(0, extra - embed_bytes)
    scratch = tr.alloc(extra)
    embed = tr.alloc(embed_bytes)
    tr.free(scratch, whole)
    if r.tied:  # added to the lm_head's out of place
        summed = tr.alloc(root[0].local * gb)
        tr.free(head, embed)
        head = embed = summed
    if r.embed_extra and r.fsdp:  # the root's post-backward copies the TP shard out of the whole gradient
        local = tr.alloc(root[0].local * cb)
        tr.free(embed)
        embed = local
    tr.free(*root_params)
    g = [embed, *(tr.alloc(p.local * gb) for p in root[1:-1]), *([] if r.tied else [head])]
    if r.tied and len(root) > 1:
        g.append(tr.alloc(root[-1].local * gb))
    held = [_reduce(tr, r, root, g, held, sharded)]
    tr.free(*held)  # the final callback clears reduce_scatter_states
    return grads if sharded is None else sharded


def _final_norm(c: StepContext, r: ReplayInput, x: int) -> tuple[list[int], int]:
    """The model's final norm on the last layer's output ``x`` (FSDP alone), op by op as a layer's norm: an RMSNorm
    on a bf16 stream keeps its fp32 copy and its bf16 result, not ``x``, which dies once the norm has run (the
    simulator's trace of mistral-7b-v0.3 FSDP 3, full checkpointing: the last layer's output freed before the
    lm_head). Under SP the norm runs on the sequence shard and the lm_head reads it all-gathered; under autocast its
    matmul keeps the bf16 cast of that, not the fp32 whole (the simulator's trace of dev mistral-7b-v0.3-l4/tp8-sp).
    Returns what lives to the lm_head's backward (its input among them), and the input that dies with the logits."""
    if (not r.fsdp or r.tp > 1) and not r.sp:  # TP without SP: the norm is not replayed here yet
        return [x], 0
    run = LayerRun()
    out, ob = norm(c, run, c.r)
    whole = sp_gather(c, out, ob)
    read = 0
    if whole != out and c.p.amp:
        read, whole = whole, c.tr.alloc(r.tokens * r.hidden * 2)
    keeps = c.spec.norm in ("layernorm", "layernorm_nobias") or c.r == 4  # OLMo's keeps an fp32 copy
    if not keeps:
        c.tr.free(x)
    return [whole, *([out] if whole != out else []), *(k for _, k in run.saved), *([x] if keeps else [])], read


def _forward_backward_ops(tr: StreamTrace, r: ReplayInput, grads: list[int]) -> list[int]:
    """One micro-batch with each decoder layer replayed op by op (``layer_stream.layer_forward``, ``layer_grads.
    layer_backward``: norms, projections, rotary, the attention kernel, the MLP or grouped MoE, each at its own size)
    between FSDP's gathers and reduce-scatters; full checkpointing keeps each layer's input and runs the layer
    again in backward. The root (embedding, loss, lm_head) as in ``_forward_backward``."""
    assert r.spec is not None and r.precision is not None
    spec, n = r.spec, len(r.groups) - 1
    layers, root = r.groups[:n], r.groups[n]
    sharded: list[int] | None = None if grads else []
    c = StepContext(tr, spec, r.precision, r.batch, r.seq, sp=r.tp if r.sp else 1, tp=r.tp, selective=r.selective)
    # LoRA: the adapters alone train (lora_A, lora_B per adapted Linear, in parameter order), reduced alone
    trainable = [[("lora", p.local, False) for p in g] for g in r.adapters[:n]] if r.adapters else layer_params(spec)
    reduced = r.adapters or r.groups
    prev, root_params = _gather(tr, r, root)
    x = tp_whole(c, tr.alloc(r.tokens * r.hidden * c.r), c.r)  # the embedding's output (SP: its shard)
    masks = {tr.alloc(m): first for m, first in r.masks}  # ``fsdp_masks``: kept to that layer's backward
    inputs: list[int] = []
    runs: list[LayerRun] = []
    params: list[list[int]] = []
    casts: list[int] = []
    embeds = 0
    for i, la in enumerate(r.acts.layers):
        flat, ps = _gather(tr, r, layers[i]) if r.fsdp else (0, [])  # TP alone: layer_forward makes the casts
        tr.free(prev)
        prev = flat
        inputs.append(x)
        run = layer_forward(c, spec.layers[i], la, x, keep=not r.full_ckpt)
        if not r.full_ckpt and not run.input_kept and i:
            tr.free(x)
        elif not r.full_ckpt and not run.input_kept:  # the embedding's output lives on as the model's
            embeds = x  # ``inputs_embeds`` (a local of its forward) until the final norm has run
        x = run.output or x
        if r.full_ckpt:  # autocast's weight copies stay until the forward returns
            casts += [lin.weight_cast for lin in run.linears]
        runs.append(LayerRun() if r.full_ckpt else run)
        if r.reshard:
            tr.free(*ps)
            ps = []
        params.append(ps)
    tr.free(*[k for run in runs for k in run.cache])
    final, read = _final_norm(c, r, x)
    tr.free(embeds)  # the model's forward returns: its ``inputs_embeds`` goes
    low, nxt = _loss(tr, r, prev, read, layers[-1] if r.fsdp and r.reshard and n else ())
    tr.free(*casts)
    grad = tr.alloc(r.tokens * r.hidden * c.r)  # the last layer's output gradient
    if r.adapters:  # LoRA: a frozen lm_head makes no gradient
        tr.free(low)
    head = 0 if r.adapters else _head_grad(tr, r, root, low)
    tr.free(*final)
    grad = tp_whole(c, grad, c.r)  # TP: the lm_head's input gradient made whole (SP: the final norm's shard)
    held: list[int] = []
    for i in range(n - 1, -1, -1):
        if r.reshard and r.fsdp:  # copy-out, its all-gather output dropped, the next group's prefetched
            params[i] = [tr.alloc(p.gathered * r.compute_bytes) for p in layers[i]]
            tr.free(nxt)
            nxt = _all_gather(tr, r, layers[i - 1] if i else ())
        run = layer_forward(c, spec.layers[i], r.acts.layers[i], inputs[i]) if r.full_ckpt else runs[i]
        start = len(c.grads)
        grad = layer_backward(c, run, grad, backward_order(trainable[i]))
        g = param_order(c.grads[start:], trainable[i])
        del c.grads[start:]
        tr.free(run.output if r.full_ckpt else 0, inputs[i], *run.cache, *(k for k, f in masks.items() if f == i))
        tr.free(*params[i])
        held = [_reduce(tr, r, reduced[i], g, held, sharded)]
    whole = sp_gather(c, grad, c.r)  # SP: the embedding's backward reads the whole sequence's gradient
    tr.free(grad)
    if r.adapters:  # a frozen embedding makes no gradient; the root's adapters (an adapted lm_head) are reduced
        tr.free(*root_params, whole if whole != grad else 0)
        g = [tr.alloc(p.local * c.p.adapter_bytes) for p in reduced[n]]
        tr.free(_reduce(tr, r, reduced[n], g, held, sharded))  # the final callback clears reduce_scatter_states
        return grads if sharded is None else sharded
    return _root_backward(tr, r, root, root_params, head, held, sharded, grads, 0 if whole == grad else whole)
