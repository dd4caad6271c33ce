"""The ops a training step's layers are replayed from (``layer_stream.py``, ``layer_mixers.py``): the step's shared
context, a Linear's record for its backward, a layer's run, and the RMSNorm and Linear as the caching allocator
sees them (their allocations and frees, op by op)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ...spec import ModelSpec
from ..activations import Precision
from ..allocator_trace import Trace
from ..lora_dropout import AMP_BYTES, dropout_forward

__all__ = ["KV_STORE_FAMILIES", "BackwardOp", "LayerRun", "Linear", "StepContext", "kv_store_layers", "linear", "norm"]

# families whose last non-shared layer of each attention type stores its K and V in the model's ``shared_kv_states``
# even when no layer reuses them (transformers 5.25 configuration_gemma3n.py / configuration_gemma4.py /
# configuration_gemma4_unified.py ``kv_sharing_modes``: "The last non-consumer layer of each type stores its KV
# states, even if no layer reuses them")
KV_STORE_FAMILIES = ("gemma3n", "gemma3n_text", "gemma4", "gemma4_text", "gemma4_unified")


@dataclass
class StepContext:
    """What every layer of the step shares: the trace, tokens, dtypes, and the gradients made so far."""

    tr: Trace
    spec: ModelSpec
    p: Precision
    batch: int
    seq: int
    grads: list[int] = field(default_factory=list)
    head_grad: int = 0  # the output projection's gradient (a tied embedding's backward adds to it)
    kv_stores: frozenset[int] = frozenset()  # the layers that store their K and V for KV sharing (kv_store_layers)
    layer: int = -1  # the layer being run
    sp: int = 1  # sequence parallelism's ranks: the stream and the norms hold one shard of the sequence
    tp: int = 1  # tensor parallelism's ranks (``layer_sp``: the collectives that make partial sums whole)
    selective: bool = False  # the attention kernel under torch.utils.checkpoint (``--checkpointing selective``)
    no_input_grad: bool = False  # the layer's input needs no gradient (``layer_parallel``: LoRA's first layer)
    added: bool = False  # a later micro-batch without FSDP: each weight gradient is added into the kept ``.grad``
    # in place and goes as soon as it is made (``layer_grads``: AccumulateGrad)
    # full checkpointing (its enable_input_require_grads gives the first layer's input a gradient); None: read it off
    # ``p.kv_cache`` (no DynamicCache under full checkpointing), where the step's precision keeps that flag
    ckpt: bool | None = None
    topk: list[int] = field(default_factory=list)  # GLM-5: the top-k the model's loop holds (``layer_axk2``)

    @property
    def checkpointed(self) -> bool:
        return not self.p.kv_cache if self.ckpt is None else self.ckpt

    @property
    def t(self) -> int:
        return self.batch * self.seq

    @property
    def ts(self) -> int:  # the stream's tokens on this rank (``Shard(1)``: the batch times its share of the sequence)
        return self.batch * -(-self.seq // self.sp)

    @property
    def pb(self) -> int:  # a Linear's output: bf16 under autocast
        return self.p.proj_bytes

    @property
    def r(self) -> int:  # the residual stream
        return self.p.resid_bytes


# a mixer's backward between its Linears: given the gradients reaching it (it frees them), returns those it leaves
# for the Linear before it (``layer_grads.layer_backward``)
BackwardOp = Callable[["StepContext", list[int]], list[int]]


@dataclass
class Linear:
    kind: str
    n_in: int
    n_out: int
    x_bytes: int  # the input's bytes per element
    x: int  # the input's key (the Linears reading one input add their gradients into one)
    saved: list[int]  # what its backward needs: the input copy (autocast cast), PEFT's fp32 input and lora_A output
    cast_input: bool  # the input was fp32 and cast to bf16 (its gradient is cast back)
    weight_cast: int  # key of the autocast weight copy (0: none)


@dataclass
class LayerRun:
    """What a layer's forward left for its backward. ``keep`` False: a checkpointed layer's first forward, whose
    saved tensors die with their last Python reference."""

    keep: bool = True
    saved: list[tuple[int, int]] = field(default_factory=list)  # (linears made before it, key), freed in backward
    linears: list[Linear] = field(default_factory=list)
    kernels: list[tuple[int, list[int], int]] = field(default_factory=list)  # attention backward: (position,
    # gradient bytes of q, k, v, scratch bytes)
    redo: list[tuple[int, list[int]]] = field(default_factory=list)  # a checkpointed kernel run again in
    # backward: (position, its outputs' bytes), made before its gradients and freed once they are
    ops: list[tuple[int, BackwardOp]] = field(default_factory=list)  # a mixer's own backward: (position, op)
    made: dict[str, int] = field(default_factory=dict)  # weight gradients those ops made, by kind
    norms: list[int] = field(default_factory=list)  # positions of the norms (their fp32 backward chain)
    cache: list[int] = field(default_factory=list)  # DynamicCache copies, freed when the forward returns
    stored: list[int] = field(default_factory=list)  # K and V put in the KV-sharing dict (kv_store_layers)
    output: int = 0  # the new residual stream (kept by the next layer)
    input_kept: bool = True  # the norm keeps the layer's input itself (fp32 stream, or LayerNorm)
    streams: list[int] = field(default_factory=list)  # hyper-connections' backward: [streams' grad, comb's grad]

    def hold(self, tr: Trace, *keys: int) -> None:
        """Tensors an op saves for backward: kept, or (not keeping) dead now."""
        for k in keys:
            if self.keep:
                self.saved.append((len(self.linears), k))
            else:
                tr.free(k)


def norm(c: StepContext, run: LayerRun, x_bytes: int) -> tuple[int, int]:
    """RMSNorm (or LayerNorm) over the stream; returns (output key, output bytes per element)."""
    tr, n = c.tr, c.ts * c.spec.hidden_size
    run.norms.append(len(run.linears))
    if c.spec.norm == "layernorm_fp32":  # OLMo: F.layer_norm(x.to(fp32)) keeps the copy, .to(input dtype)
        return _fp32_layer_norm(c, run, n, x_bytes)
    if c.spec.norm != "rms":  # native_layer_norm keeps its input (the stream); fp32 under autocast
        ob = 4 if c.p.amp else x_bytes
        return tr.alloc(n * ob), ob
    x32 = tr.alloc(n * 4) if x_bytes != 4 else 0  # hidden.to(float32), kept by pow and mul
    tr.free(tr.alloc(n * 4))  # pow(2), reduced to the per-token mean
    normed = tr.alloc(n * 4)  # x · rsqrt(var + eps)
    run.hold(tr, x32)
    out_b = max(x_bytes, c.p.weight_bytes)
    if x_bytes == 4:
        tr.pack()  # the weight's product saves both operands
        out = tr.alloc(n * out_b)  # weight · normed
        run.hold(tr, normed) if c.p.full else tr.free(normed)
        return out, out_b
    low = tr.alloc(n * x_bytes)  # .to(input dtype)
    tr.pack()
    out = tr.alloc(n * out_b)  # weight · low
    run.hold(tr, low) if c.p.full else tr.free(low)
    tr.free(normed)
    return out, out_b


def _fp32_layer_norm(c: StepContext, run: LayerRun, n: int, x_bytes: int) -> tuple[int, int]:
    """OLMo's ``OlmoLayerNorm`` (transformers 5.25 modeling_olmo.py): ``F.layer_norm(x.to(float32), shape, None,
    None)``, ``.to(orig_dtype)``. The fp32 copy (the stream itself when it is fp32) is what native_layer_norm saves
    (with the per-token mean and rstd); no weight, so nothing else is kept; its fp32 output goes once cast back."""
    tr = c.tr
    x32 = tr.alloc(n * 4) if x_bytes != 4 else 0
    out = tr.alloc(n * 4)
    run.hold(tr, x32)
    if x_bytes == 4:
        return out, 4
    low = tr.alloc(n * x_bytes)
    tr.free(out)
    return low, x_bytes


def linear(
    c: StepContext, run: LayerRun, kind: str, x: int, x_bytes: int, n_in: int, n_out: int, out_bytes: int = 0
) -> int:
    """One Linear (and its LoRA adapter); returns the output key (``out_bytes`` per element, else ``proj_bytes``)."""
    tr, t = c.tr, c.t
    trains = c.p.full
    cast = c.p.amp and x_bytes == 4
    xin = tr.alloc(t * n_in * 2) if cast else 0
    wcast = tr.alloc(n_in * n_out * 2) if (c.p.amp and trains) else 0
    tr.pack()  # the matmul saves its input and weight, then computes
    out = tr.alloc(t * n_out * (out_bytes or c.pb))
    saved: list[int] = []
    if trains and cast and run.keep:
        saved.append(xin)
    else:
        tr.free(xin)
    if kind in c.p.lora_kinds:
        out = _adapter(c, run, out, x_bytes, n_in, n_out, saved)
    run.linears.append(Linear(kind, n_in, n_out, x_bytes, x, saved, cast, wcast))
    return out


def _adapter(c: StepContext, run: LayerRun, out: int, x_bytes: int, n_in: int, n_out: int, saved: list[int]) -> int:
    """PEFT's adapter on one Linear: x → fp32, dropout, lora_A, lora_B, × scaling, added to the base output ``out``
    and cast back; appends what autograd keeps to ``saved`` and returns the new output key. Under autocast lora_A
    casts its input to bf16 and keeps that copy, and the adapter's outputs are bf16 (lora_dropout.py). Adapters
    FSDP gathers in the layer's dtype (``Precision.adapter_bytes``) make no cast: lora_A keeps the layer's own input,
    the sum is in that dtype and ``.to`` the result's dtype is a no-op."""
    tr, t, amp, pa = c.tr, c.t, c.p.amp, c.p.adapter_bytes
    ab = AMP_BYTES if amp else pa
    x32 = tr.alloc(t * n_in * pa) if x_bytes != pa else 0
    drop = dropout_forward(tr, t, n_in, pa) if c.p.lora_dropout > 0 else (0, 0)  # lora_A reads the dropped copy
    xa = tr.alloc(t * n_in * AMP_BYTES) if amp else 0  # autocast's bf16 cast of lora_A's input
    tr.pack()  # lora_A
    a = tr.alloc(t * c.p.lora_rank * ab)
    if not run.keep:  # a checkpointed first forward keeps nothing
        tr.free(*drop, xa)
    elif amp:  # the fp32 input lora_A read (dropped copy or cast input) is not kept: its bf16 cast is
        tr.free(drop[0])
    tr.pack()  # lora_B (``× scaling`` and the sum save nothing)
    bo = tr.alloc(t * n_out * ab)
    if not run.keep:
        tr.free(a)
    sc = tr.alloc(t * n_out * ab)
    tr.free(bo)
    sb = c.pb if amp else max(c.pb, pa)  # result + lora: bf16 + bf16 under autocast, else the wider dtype
    s = tr.alloc(t * n_out * sb)
    tr.free(sc, out)
    if sb == c.pb:  # result.to(result dtype) is a no-op
        out = s
    else:
        out = tr.alloc(t * n_out * c.pb)
        tr.free(s)
    if amp:
        kept = [k for k in (drop[1], xa) if k] if run.keep else []
        tr.free(x32)
    else:
        kept = [x32]
        if drop[0]:  # the cast input dies with the adapter's forward; the dropped copy and the mask are kept
            tr.free(x32)
            # native_dropout keeps its mask only for its input's gradient
            kept = ([drop[0]] if c.no_input_grad else [*drop]) if run.keep else []
            tr.free(drop[1] if c.no_input_grad else 0)
    if run.keep:
        saved += [*kept, a]
    else:
        tr.free(*kept)
    return out


def kv_store_layers(spec: ModelSpec) -> frozenset[int]:
    """The layers that store their K and V for KV sharing: per attention type (sliding or full), the last layer
    before the shared tail. The dict keeps the pair until the model's forward returns, or, under checkpointing, until
    the layer's recomputation stores a new pair in its place."""
    if spec.family not in KV_STORE_FAMILIES:
        return frozenset()
    last: dict[bool, int] = {}
    for i, layer in enumerate(spec.layers):
        a = layer.attention
        if a is not None and not a.kv_shared:
            last[a.sliding_window is None] = i
    return frozenset(last.values())
