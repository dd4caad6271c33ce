"""The first layer of a parallel block (GPT-J, Phi, CodeGen, …) under LoRA without checkpointing, as the caching
allocator sees it: its input needs no gradient, so what reads only that input keeps nothing.

PEFT freezes the embedding and only gradient checkpointing or kbit preparation calls
``enable_input_require_grads``, so the embedding's output needs no gradient. In a parallel block (transformers 5.25
modeling_gptj.py ``GPTJBlock.forward``: ``hidden_states = self.ln_1(hidden_states)``, then
``attn_output + feed_forward_hidden_states + residual``) attention and MLP read the one norm of that input: the
frozen LayerNorm keeps nothing, an MLP without adapters runs as under ``no_grad`` (``GPTJMLP.forward``: fc_in,
``NewGELUActivation.forward``'s op chain ``0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input +
0.044715 * torch.pow(input, 3.0))))``, each op's output freed once the next is made, then fc_out), and only the
adapted attention keeps tensors. The simulator's trace of gpt-j-6b-l2 (train-sweep-dev.jsonl) shows this stream.
"""

from __future__ import annotations

from collections.abc import Callable

from ...spec import LayerSpec, MLPSpec
from ..activations import LayerActivations
from ..gelu_chain import new_gelu_no_grad
from .layer_ops import LayerRun, StepContext

Attention = Callable[[StepContext, LayerRun, LayerSpec, int, int], int]
Keeps = Callable[[StepContext, LayerRun, int, int], bool]


def no_grad_mlp(c: StepContext, mlp: MLPSpec) -> int:
    """fc_in, the activation's op chain (``gelu_new``: NewGELUActivation's; otherwise one tensor) and fc_out, each
    tensor freed with its last reference; returns fc_out's output."""
    tr, n, pb = c.tr, c.t * mlp.intermediate_size, c.pb
    fc = tr.alloc(n * pb)
    if mlp.activation == "gelu_new":
        act = new_gelu_no_grad(tr, fc, n * pb)
    else:
        act = tr.alloc(n * pb)
        tr.free(fc)
    out = tr.alloc(c.t * c.spec.hidden_size * pb)
    tr.free(act)
    return out


def parallel_residual(c: StepContext, run: LayerRun, attn: int, ff: int, normed: int, keep_normed: bool) -> int:
    """``attn_output + feed_forward_hidden_states + residual``: two adds, the first sum freed; returns the stream."""
    tr, n = c.tr, c.ts * c.spec.hidden_size * c.r
    partial = tr.alloc(n)
    new = tr.alloc(n)
    tr.free(partial, attn, ff)
    run.hold(tr, normed) if keep_normed else tr.free(normed)
    return new


def gelu_new_chain(c: StepContext, run: LayerRun, fc: int, inter: int, keep_act: bool) -> int:
    """``NewGELUActivation.forward`` (transformers 5.25 activations.py) on fc_in's output ``fc`` with autograd
    recording, no autocast: ``0.5 * input`` (kept by the product), ``pow(input, 3)`` and its scaling, the sum and
    its scaling (each freed once the next is made: a scalar product's backward reads nothing, ``pow``'s reads
    ``input``), ``tanh`` (its backward reads its output), ``1 + tanh`` and the product (kept by the product's
    backward); ``fc`` is kept by ``pow``. The product is kept only when fc_out's weight or adapter needs its input
    (``keep_act``). Returns the product."""
    tr, n = c.tr, c.t * inter * c.pb
    half, cube = tr.alloc(n), tr.alloc(n)
    alive = tr.alloc(n)  # 0.044715 * cube
    tr.free(cube)
    for _ in range(2):  # input + ..., sqrt(2/pi) * ...
        made = tr.alloc(n)
        tr.free(alive)
        alive = made
    tanh = tr.alloc(n)
    tr.free(alive)
    one = tr.alloc(n)  # 1.0 + tanh
    act = tr.alloc(n)
    run.hold(tr, fc, half, tanh, one)
    if keep_act:
        run.hold(tr, act)
    return act


def first_parallel(c: StepContext, layer: LayerSpec, la: LayerActivations, x: int, attention: Attention,
                   adapter_keeps: Keeps) -> LayerRun:
    """The first layer of a parallel block whose input needs no gradient (``memory.first_layer``): ln_1's output
    kept by nothing, attention as usual, the MLP as under no_grad (``layer_parallel``), two residual adds."""
    tr, run = c.tr, LayerRun()
    start = tr.pool.allocated
    nb = c.r
    normed = tr.alloc(c.ts * c.spec.hidden_size * nb)  # ln_1 (native_layer_norm): its output only
    c.no_input_grad = True
    attn = attention(c, run, layer, normed, nb)
    c.no_input_grad = False
    assert layer.mlp is not None
    ff = no_grad_mlp(c, layer.mlp)
    run.output = parallel_residual(c, run, attn, ff, normed, adapter_keeps(c, run, normed, nb))
    run.input_kept = False
    cache = sum(tr.pool.live[k].size for k in run.cache if k in tr.pool.live)
    kept = la.saved - (la.attention_core if c.selective else 0)
    rest = kept - (tr.pool.allocated - start - cache) + c.ts * c.spec.hidden_size * c.r
    if rest > 0:  # what the family keeps beyond the tensors replayed here, as one more tensor
        run.hold(tr, tr.alloc(rest))
    return run


def gelu_new(c: StepContext) -> bool:
    """The layer's MLP runs NewGELUActivation with autograd recording, without autocast, on one GPU's whole layer."""
    mlp = c.spec.layers[c.layer].mlp if 0 <= c.layer < len(c.spec.layers) else None
    return mlp is not None and mlp.activation == "gelu_new" and not c.p.amp and c.sp == 1 and c.tp == 1
