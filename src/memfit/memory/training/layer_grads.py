"""One decoder layer's backward as the caching allocator sees it (the forward: ``layer_stream.py``).

The ops run in reverse: each Linear's output gradient cast to bf16 under autocast, PEFT's fp32 adapter gradients,
the input's gradient and the weight's (bf16; once the matmul's node is done and its saved tensors are freed, the
weight cast's backward makes its fp32 copy, kept as ``.grad``), the attention kernel's q/k/v gradients and its
scratch, the MLP's elementwise gradients, each norm's fp32 chain; the tensors the forward kept are freed as the op
that kept them runs. Linears reading one input add their input gradients into one (the autograd engine accumulates
in place).
"""

from __future__ import annotations

from ...sources.bert_family import BERT_HEADS
from ..lora_dropout import AMP_BYTES, dropout_backward
from .layer_hc import hc_streams
from .layer_ops import LayerRun, Linear, StepContext
from .layer_sp import sp_gather, sp_scatter, tp_sum, tp_whole

__all__ = ["layer_backward"]

# the Linears whose output adds into the stream: under autocast their incoming gradient is the fp32 stream's, cast
OUTPUT_KINDS = ("attn_output", "ffn_down", "shortconv_out", "ssm_out")


def layer_backward(c: StepContext, run: LayerRun, grad: int, trainable: list[tuple[str, int, bool]]) -> int:
    """The layer's backward from the stream's gradient ``grad``, the ops in reverse: each Linear's input and
    weight gradients, the attention kernel's and the MLP's gradients, each norm's fp32 chain, the saved tensors
    freed as the op that kept them runs; appends the parameter gradients (``trainable``: the layer's (kind,
    elements, a matrix) in parameter order). Returns the gradient of the layer's input."""
    tr, h = c.tr, c.spec.hidden_size
    made = run.made  # the weight gradients the Linears and the mixers' ops make, by kind
    # the kinds whose weight gradient a replayed Linear makes: a shared expert's Linears are replayed as an MLP's;
    # a Linear standing in for weights laid out otherwise (DeepSeek-V4's low-rank q and output) makes none there
    kinds = {k.removesuffix("_shexp") for k, _n, matrix in trainable if matrix}
    acc: dict[int, int] = {}  # input key -> its gradient (later Linears on the same input add in place)
    pending: list[int] = []  # gradients an op made, each consumed by the Linear before it
    run.streams[:] = [grad, 0]  # the hyper-connections' ops (layer_hc) pass the streams' gradient along
    first, replaced = grad, False  # ``replaced``: the input norm's fp32 chain made the layer input's gradient
    start = len(c.grads)
    for j in range(len(run.linears), -1, -1):
        for pos, sizes, scratch in reversed(run.kernels):
            if pos == j:
                again = [tr.alloc(n) for at, redo in run.redo if at == j for n in redo]
                new = [tr.alloc(n) for n in sizes]
                tr.free(tr.alloc(scratch), *again, *acc.values(), *pending)
                acc, pending = {}, new
        for pos, op in reversed(run.ops):
            if pos == j:
                pending, acc = op(c, [*acc.values(), *pending]), {}
        tr.free(*[k for pos, k in run.saved if pos == j])
        if j in run.norms:
            if c.sp > 1:  # the input's gradient, whole, reduce-scattered to the norm's shard (``layer_sp``)
                whole = [*acc.values(), *pending]
                acc, pending = {}, [sp_scatter(c, whole[-1], c.r)] if whole else []
                tr.free(*whole[:-1])
            if _fp32_rms_chain(c):  # the stream's gradient is a new tensor after the norm's (``rms_backward_fp32``)
                grad = run.streams[0] = rms_backward_fp32(c, grad, [*acc.values(), *pending])
                replaced = j == 0
            else:
                _norm_backward(c)
                tr.free(*acc.values(), *pending)
            acc, pending = {}, []
        if j > 0:
            lin = run.linears[j - 1]
            gi, gw = _linear_backward(c, lin, lin.kind in kinds)
            if gw:  # a later micro-batch's: AccumulateGrad (run first once ready) adds it into .grad, and it goes
                made[lin.kind] = -1 if c.added else gw
                tr.free(gw if c.added else 0)
            if pending:
                tr.free(pending.pop())
            gb = 4 if lin.cast_input else c.pb
            if c.sp == 1 and lin.kind not in OUTPUT_KINDS:  # TP: a column-wise Linear's input gradient all-reduced
                gi = tp_whole(c, gi, gb)
            acc[lin.x] = tp_sum(c, acc[lin.x], gi, gb) if lin.x in acc else gi
    tr.free(*acc.values(), *pending)
    gb = 4 if c.p.amp else (c.p.weight_bytes if c.p.full else c.p.adapter_bytes)  # LoRA: the adapters' dtype
    for kind, numel, matrix in trainable:  # norms, biases, adapters, other matrices: made as their nodes run
        # (a shared expert's Linears are replayed as an MLP's: ffn_gate for ffn_gate_shexp)
        made_as = made.pop(kind, 0) or made.pop(kind.removesuffix("_shexp"), 0) if matrix else 0
        c.grads.append(made_as or tr.alloc(numel * gb))
    c.grads += made.values()
    if c.added:  # each added into its ``.grad`` in place and freed (-1: a Linear's, freed as it was made)
        tr.free(*[max(0, k) for k in c.grads[start:]])
        del c.grads[start:]
    if replaced:
        return grad
    if run.streams[0] != first:  # the hyper-connections freed it and left the layer input's
        return run.streams[0]
    out = tr.alloc(c.ts * h * c.r)
    tr.free(grad)
    return out


def _fp32_rms_chain(c: StepContext) -> bool:
    """Whether a layer norm's backward is replayed as ``rms_backward_fp32``: transformers' pre-norm RMSNorm over an
    fp32 stream (autocast on fp32 weights, or an fp32 model: ``c.r`` 4), the whole sequence on the rank, one stream
    (no hyper-connections), the norm's weight and input both needing their gradients (full training: a LoRA model's
    norm weight is frozen, and autograd's ``MulBackward0`` makes no product for an input that needs no gradient).
    Not OLMo (1): its ``OlmoLayerNorm`` is ``F.layer_norm`` without a weight (spec ``layernorm_fp32``), one kernel."""
    return (
        c.spec.norm == "rms"
        and c.r == 4
        and c.sp == 1
        and c.p.full
        and not c.no_input_grad
        and hc_streams(c.spec) <= 1
        and all(la.norm_layout == "pre" for la in c.spec.layers)
    )


def rms_backward_fp32(c: StepContext, stream: int, incoming: list[int]) -> int:
    """Autograd's backward of transformers' RMSNorm on an fp32 stream, tensor by tensor (``LlamaRMSNorm.forward``:
    ``variance = x.pow(2).mean(-1, keepdim=True)``, ``x = x * torch.rsqrt(variance + eps)``, ``weight * x``; the
    formulas of torch's ``tools/autograd/derivatives.yaml``): ``mul``'s two products (the normed input's gradient,
    grad × weight; the weight's, grad × normed, summed over the tokens), the incoming gradient freed; the second
    ``mul``'s (x's direct gradient, × rsqrt; rsqrt's, × x, summed); the direct gradient added to the stream's (the
    autograd engine's input buffer: a new tensor; ``stream`` 0 is a buffer kept elsewhere, as a pipeline stage's
    received gradient); ``mean``'s backward (``expand`` / n, one tensor), ``pow``'s (``pow(x, 1)``, × 2, × the
    gradient), added once more. Nine T × h fp32 tensors where ``_norm_backward`` makes two, in the order the
    simulator's trace of dev llama-3.2-1b-l4/pp2-r1-1f1b (pipeline-dev.jsonl) makes them for every layer norm.
    Returns the stream's gradient after the norm."""
    tr, n4 = c.tr, c.ts * c.spec.hidden_size * 4
    normed_grad = tr.alloc(n4)
    tr.free(tr.alloc(n4))  # the weight's gradient product, summed over the tokens
    tr.free(*incoming)
    via_rsqrt = tr.alloc(n4)  # rsqrt's gradient product (summed)
    direct = tr.alloc(n4)
    tr.free(via_rsqrt, normed_grad)
    summed = tr.alloc(n4)
    tr.free(stream, direct)
    mean_back = tr.alloc(n4)
    powered = tr.alloc(n4)
    doubled = tr.alloc(n4)
    pow_back = tr.alloc(n4)
    tr.free(doubled, powered, mean_back)
    out = tr.alloc(n4)
    tr.free(summed, pow_back)
    return out


def _norm_backward(c: StepContext) -> None:
    """RMSNorm's backward in fp32: the normalised input's gradient, the rsqrt chain, the input's gradient cast to
    the stream's dtype and added into the stream's gradient. OLMo's weightless LayerNorm on an fp32 stream: the one
    input gradient of ``native_layer_norm_backward`` (no ``.to`` node to upcast the incoming gradient)."""
    tr, n = c.tr, c.ts * c.spec.hidden_size
    a = 0 if c.spec.norm == "layernorm_fp32" and c.r == 4 else tr.alloc(n * 4)
    b = tr.alloc(n * 4)
    tr.free(a)
    g = tr.alloc(n * c.r) if c.r != 4 else 0
    tr.free(b, g)


def _linear_backward(c: StepContext, lin: Linear, weight: bool = True) -> tuple[int, int]:
    """One Linear's backward; returns (input gradient, weight gradient or 0; none unless ``weight``)."""
    tr, t = c.tr, c.t
    gcast = tr.alloc(t * lin.n_out * 2) if (c.p.amp and lin.kind in OUTPUT_KINDS and c.sp == 1) else 0
    if c.sp > 1 and lin.kind in OUTPUT_KINDS:  # the stream's gradient shard (cast under autocast), all-gathered
        low = tr.alloc(c.ts * lin.n_out * 2) if c.p.amp else 0
        gcast = sp_gather(c, low, 2 if c.p.amp else c.pb, lin.n_out)
        tr.free(low)
    if lin.kind in c.p.lora_kinds:  # .to's fp32 gradient, × scaling, lora_B's and lora_A's input gradients
        pa = c.p.adapter_bytes  # the adapters' dtype: fp32, or the layer's when FSDP gathers them in it
        r, ab = c.p.lora_rank, (AMP_BYTES if c.p.amp else pa)  # bf16 adapter outputs under autocast
        # no ``.to`` node (its gradient) when the sum already is in the result's dtype (adapters in the layer's)
        gs = tr.alloc(t * lin.n_out * ab) if c.p.amp or pa != c.pb else 0
        gb = tr.alloc(t * lin.n_out * ab)
        tr.free(gs)
        ga = tr.alloc(t * r * ab)
        tr.free(gb)
        gx = tr.alloc(t * lin.n_in * ab)
        tr.free(ga)
        if c.p.amp:  # the backward of autocast's cast of lora_A's input: the fp32 gradient
            g32 = tr.alloc(t * lin.n_in * pa)
            tr.free(gx)
            gx = g32
        if c.p.lora_dropout > 0:  # native_dropout_backward (lora_dropout.py)
            gx = dropout_backward(tr, gx, t, lin.n_in, pa)
        low = tr.alloc(t * lin.n_in * lin.x_bytes) if lin.x_bytes != pa else 0  # the input cast's backward
        tr.free(gx, low)
    # a BERT type's biased Linear (AddmmBackward0; torchgen derivatives.yaml addmm: self, mat1, mat2, made in that
    # order) makes its input's gradient before its weight's, as the simulator's trace of xlm-roberta-default-l2
    # shows; the other types' replay keeps the weight's first (not re-checked here)
    gi = tr.alloc(t * lin.n_in * c.pb) if c.spec.family in BERT_HEADS else 0
    gw = tr.alloc(lin.n_in * lin.n_out * c.pb) if (c.p.full and weight) else 0  # the weight's, then the input's
    gi = gi or tr.alloc(t * lin.n_in * c.pb)
    tr.free(gcast, *lin.saved, lin.weight_cast)  # the matmul's node is done: its saved tensors go
    if gw and c.p.amp:  # then the weight cast's backward: the fp32 gradient
        g32 = tr.alloc(lin.n_in * lin.n_out * 4)
        tr.free(gw)
        gw = g32
    if lin.cast_input:
        g32 = tr.alloc(t * lin.n_in * 4)
        tr.free(gi)
        gi = g32
    return gi, gw
