"""Sequence parallelism's redistributions as the caching allocator sees them, for the op-by-op replay of a TP rank
(``layer_stream.py``, ``layer_grads.py``, ``fsdp_pool.py``).

Under torchtitan's plan with sequence parallelism the residual stream and the norms hold the rank's shard of the
sequence (``Shard(1)``); ``PrepareModuleInput`` turns a norm's output into the whole sequence before the column-wise
Linears, and the row-wise Linears' ``output_layouts=Shard(1)`` turn their partial sums back into the shard. DTensor
runs both through ``torch/distributed/tensor/_redistribute.py`` on the functional collectives
(``torch/distributed/_functional_collectives.py``): an all-gather along dim 1 is ``all_gather_tensor`` along dim 0
(its output, the whole tensor) followed by ``torch.cat`` of its chunks along dim 1 (a second whole tensor) once the
first is dropped; a reduce-scatter along dim 1 first ``torch.cat``s the chunks along dim 0 (a whole copy), then
``reduce_scatter_tensor`` makes the shard, and the copy and the partial sums are dropped. The backward of each is
the other. The simulator's trace of dev mistral-7b-v0.3-l4/tp8-sp-b2-s2048 shows these tensors in this order.
"""

from __future__ import annotations

from .layer_ops import StepContext

__all__ = ["sp_gather", "sp_scatter", "tp_sum", "tp_whole"]


def sp_gather(c: StepContext, shard: int, nbytes: int, width: int = 0) -> int:
    """The sequence shard ``shard`` (``width`` features, the hidden size by default; ``nbytes`` per element)
    all-gathered to the whole sequence; returns the new tensor's key (``shard`` itself without SP). The shard is
    not freed here."""
    if c.sp == 1:
        return shard
    n = c.t * (width or c.spec.hidden_size) * nbytes
    gathered = c.tr.alloc(n)
    whole = c.tr.alloc(n)
    c.tr.free(gathered)
    return whole


def sp_scatter(c: StepContext, whole: int, nbytes: int) -> int:
    """The whole sequence's partial sums ``whole`` (hidden-size features, ``nbytes`` per element) reduce-scattered
    to the rank's shard; ``whole`` is freed; returns the shard's key (``whole`` itself without SP)."""
    if c.sp == 1:
        return whole
    n = c.t * c.spec.hidden_size * nbytes
    cat = c.tr.alloc(n)
    shard = c.tr.alloc(c.ts * c.spec.hidden_size * nbytes)
    c.tr.free(cat, whole)
    return shard


def tp_whole(c: StepContext, partial: int, nbytes: int) -> int:
    """Partial sums over the TP ranks (a row-wise Linear's output, the vocabulary-parallel embedding's, a column-wise
    Linear's input gradient: hidden-size features on every token) made whole: with SP reduce-scattered to the shard
    (``sp_scatter``); without, all-reduced by the functional collective, which is out of place
    (``torch.ops._c10d_functional.all_reduce`` returns a new tensor; ``partial`` is dropped once it is made: the
    simulator's trace of dev llama-2-7b-hf-l4/fsdp4-tp2-accum2-b2-s2048). Returns the result's key."""
    if c.sp > 1:
        return sp_scatter(c, partial, nbytes)
    if c.tp == 1:
        return partial
    whole = c.tr.alloc(c.t * c.spec.hidden_size * nbytes)
    c.tr.free(partial)
    return whole


def tp_sum(c: StepContext, first: int, second: int, nbytes: int) -> int:
    """Two gradients of one input added: in place on one GPU (the autograd engine's accumulation, 0 returned: keep
    ``first``); under TP the DTensor gradients are added out of place, a new tensor, both dropped."""
    if c.tp == 1:
        c.tr.free(second)
        return first
    total = c.tr.alloc(c.t * c.spec.hidden_size * nbytes)
    c.tr.free(first, second)
    return total
