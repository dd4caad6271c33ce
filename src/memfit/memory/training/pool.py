"""A training step as the caching allocator sees it, replayed through the allocator emulation
(``memory/allocator_trace.py``) to give the reserve ``nvidia-smi`` shows beyond the allocated peak.

Two steps, as the measurement runs them (the optimizer states appear in the first step, the second reuses the
pool). The tensors that shape the pool in training are the large ones (on the simulated traces of the H100 cases,
the allocations of 10 MiB or more give the reserve within a few MiB):

* forward, per layer: under autocast the bf16 copy of each of the layer's weights (kept for backward unless the
  layer is recomputed); the tensors saved for backward: the MLP intermediates (``b·s·I`` each: gate, up, the
  activation and the product of a gated MLP) and hidden-sized ones for the rest of the layer's ``saved``; with full
  checkpointing only the layer input stays and the rest is made and dropped;
* the loss (transformers' causal-LM loss): the logits, their fp32 copy, the fp32 log-softmax kept for backward;
  the logits go when the forward returns; backward: the fp32 gradient, log-softmax's backward, the logits'
  gradient in their dtype, the output projection's weight gradient;
* backward from the last layer: with checkpointing the layer's forward again; the MLP's gradient temporaries; the
  layer's parameter gradients, one tensor per parameter (kept to the step); its saved tensors go;
* the optimizer step: the states, two fp32 tensors per trainable parameter for AdamW (first step), the step's
  temporaries; ``zero_grad(set_to_none=True)`` frees the gradients.

The byte figures are those the step's allocated peak is built from (``activations.py``, ``states.py``) and the
parameter tensors of the inventory.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..activations import LayerActivations, ModelActivations
from ..allocator_trace import Block, PoolFigures, Trace, build_weights, parameter_blocks
from .states import ModelStates

__all__ = ["training_pool"]

MAX_PIECES = 64  # hidden-sized saved tensors a layer is replayed as at most (a MoE layer saves hundreds)


def training_pool(spec: ModelSpec, wl: Workload, states: ModelStates, acts: ModelActivations,
                  expandable: bool = False) -> PoolFigures:
    """The emulated pool of two training steps on one GPU (peaks after the build)."""
    tr = Trace(expandable)
    tensors = parameter_blocks(spec)
    build_weights(tr, spec, states.weights, 2, states.precision.weight_bytes)
    if states.lora:
        tr.alloc(states.lora)
    tr.built()
    full = wl.checkpointing == "full"
    ab = 4 if states.precision.weight_bytes == 4 and not states.precision.amp else 2  # activation bytes
    t = wl.batch * wl.context
    trainable = states.lora == 0
    by_layer: dict[int | None, list[Block]] = {}
    for x in tensors:
        by_layer.setdefault(x.layer, []).append(x)
    opt: list[int] = []
    for step in range(2):
        grads = _step_forward_backward(tr, spec, wl, states, acts, by_layer, t, ab, full, trainable)
        if step == 0 and states.optimizer.on_device and states.optimizer.state_bytes:
            opt = _states(tr, states, tensors, trainable)
        tr.free(tr.alloc(states.optimizer.step_temporary))
        tr.free(*grads)
    del opt
    return tr.figures()


def _step_forward_backward(tr: Trace, spec: ModelSpec, wl: Workload, states: ModelStates, acts: ModelActivations,
                           by_layer: dict[int | None, list[Block]], t: int, ab: int, full: bool,
                           trainable: bool) -> list[int]:
    amp = states.precision.amp
    inner = t * _inner(spec) * ab
    outside = tr.alloc(acts.outside)
    kept: list[list[int]] = []
    for i, la in enumerate(acts.layers):
        casts = [tr.alloc(x.numel * 2) for x in _linears(by_layer.get(i, []))] if amp else []
        if full:
            keep = [tr.alloc(la.checkpoint)]
            tr.free(*_saved(tr, la, inner, t * spec.hidden_size * ab), tr.alloc(la.forward_extra), *casts)
            kept.append(keep)
        else:
            kept.append([*casts, *_saved(tr, la, inner, t * spec.hidden_size * ab)])
            tr.free(tr.alloc(la.forward_extra))
    saved_loss = _loss_forward(tr, spec, t, ab)
    grads = _loss_backward(tr, spec, t, ab, saved_loss, trainable)
    for i in range(len(acts.layers) - 1, -1, -1):
        la = acts.layers[i]
        if full:
            casts = [tr.alloc(x.numel * 2) for x in _linears(by_layer.get(i, []))] if amp else []
            kept[i] += [*casts, *_saved(tr, la, inner, t * spec.hidden_size * ab)]
        if inner:  # the MLP's backward: gradients of the intermediates
            a = tr.alloc(inner)
            tr.free(a)
            b, c = tr.alloc(inner), tr.alloc(inner)
            tr.free(b, c)
        extra = tr.alloc(la.backward_extra)
        if trainable:
            grads += [tr.alloc(x.numel * states.grad_bytes) for x in by_layer.get(i, [])]
        tr.free(extra, *kept[i])
    tr.free(tr.alloc(acts.embedding_backward_extra), outside)
    if trainable:
        grads += [tr.alloc(x.numel * states.grad_bytes) for x in by_layer.get(None, []) if x.group == "embeddings"]
    else:
        grads.append(tr.alloc(states.gradients))
    return grads


def _loss_forward(tr: Trace, spec: ModelSpec, t: int, ab: int) -> int:
    """Logits, their fp32 copy, the fp32 log-softmax (kept); returns its key."""
    n = t * spec.vocab_size
    logits = tr.alloc(n * ab)
    f = tr.alloc(n * 4) if ab != 4 else 0
    ls = tr.alloc(n * 4)
    tr.free(f, logits)
    return ls


def _loss_backward(tr: Trace, spec: ModelSpec, t: int, ab: int, saved: int, trainable: bool) -> list[int]:
    """The loss's backward down to the output projection; returns the head's gradient keys."""
    n = t * spec.vocab_size
    g1 = tr.alloc(n * 4)
    g2 = tr.alloc(n * 4)
    tr.free(g1, saved)
    low = tr.alloc(n * ab) if ab != 4 else 0
    tr.free(g2)
    head = [tr.alloc(spec.vocab_size * spec.hidden_size * ab)] if trainable else []
    tr.free(low)
    return head


def _states(tr: Trace, states: ModelStates, tensors: list[Block], trainable: bool) -> list[int]:
    """The optimizer's states, made at the first step: in parameter order, its bytes split by parameter size."""
    if not trainable:
        return [tr.alloc(states.optimizer.state_bytes)]
    numel = sum(x.numel for x in tensors) or 1
    per = states.optimizer.state_bytes / numel
    return [tr.alloc(int(x.numel * per)) for x in tensors]


def _linears(tensors: list[Block]) -> list[Block]:
    return [x for x in tensors if x.matrix]


def _inner(spec: ModelSpec) -> int:
    sizes = [layer.mlp.intermediate_size for layer in spec.layers if layer.mlp is not None and layer.moe is None]
    return max(sizes, default=0)


def _saved(tr: Trace, la: LayerActivations, inner: int, hidden: int) -> list[int]:
    """The layer's saved tensors: the MLP intermediates (at most four), then hidden-sized ones."""
    n_i = min(4, la.saved // inner) if inner else 0
    keys = [tr.alloc(inner) for _ in range(n_i)]
    rest = la.saved - n_i * inner
    n_h = min(MAX_PIECES, max(1, rest // hidden)) if hidden else 1
    keys += [tr.alloc(rest // n_h) for _ in range(n_h)]
    return keys
