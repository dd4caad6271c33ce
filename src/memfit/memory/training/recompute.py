"""A checkpointed layer's recomputation in backward as the caching allocator sees it: torch.utils.checkpoint's early
stop (the replay's ``training/pool.py`` runs it).

transformers 5.25 checkpoints each decoder layer with ``torch.utils.checkpoint`` in its non-reentrant mode
(``modeling_utils.gradient_checkpointing_enable``: ``use_reentrant=False``), whose ``early_stop`` defaults to True
(``torch/utils/checkpoint.py``, ``checkpoint`` / ``set_checkpoint_early_stop``). The first forward counts the
tensors autograd saves (``weak_holders``); in backward the recomputation's pack hook (``_recomputation_hook``)
counts them again and raises ``_StopRecomputationError`` at the pack that makes the count whole, which
``_checkpoint_hook.unpack_hook`` catches: the rest of the layer's forward never runs, and every tensor of the
recomputation that no op saved dies as the exception unwinds its frames. An op packs its inputs when its autograd
node is made, before it computes its output (the generated ``VariableType`` code: ``grad_fn->self_ =
SavedVariable(self, false)`` before the redispatch), so a Llama-style layer's recomputation ends at the down
projection's pack of its input and weight: neither the down projection's output nor the residual add is made again.

The replay marks each op's pack (``Trace.pack``: a Linear's before its output, a norm's ``weight ×`` before its
output, the grouped experts' routing-weight product and ``index`` of the restored order, DeepSeek-V4's
hyper-connection products) and runs the layer's forward twice: on a pool of its own, to count the allocations made
before the last pack, then on the step's pool with every allocation after those left out. Only layers whose tail is
replayed op by op stop early (``stops_early``); what a family keeps beyond the replayed tensors (the layer's one
remainder block) is saved, so it is made before the stop. The one-GPU replay (``pool.py``) and the pipeline ranks'
(``pp_pool.py``) recompute so (``recompute_layer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ...spec import LayerSpec
from ..activations import LayerActivations
from ..allocator_trace import Trace
from ..runtimes.transformers_families import block_extras_saved
from .layer_ops import LayerRun, StepContext
from .layer_stream import layer_forward

__all__ = ["Recompute", "recompute_layer", "stops_early"]


@dataclass
class Recompute(Trace):
    """The step's trace ``inner`` seen by a recomputation: allocations counted, those past ``limit`` left out
    (key 0), the count at each pack recorded; ``rest``: the remainder block's bytes the counting run found."""

    inner: Trace = field(default_factory=Trace)
    limit: float = math.inf
    rest: int = -1
    count: int = 0
    last_pack: int = 0

    def __post_init__(self) -> None:
        self.pool = self.inner.pool

    def alloc(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        self.count += 1
        return self.inner.alloc(nbytes) if self.count <= self.limit else 0

    def alloc_small(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        self.count += 1
        return self.inner.alloc_small(nbytes) if self.count <= self.limit else 0

    def free(self, *keys: int) -> None:
        self.inner.free(*keys)

    def pack(self) -> None:
        self.last_pack = self.count

    def remainder(self, rest: int) -> int:
        """The remainder block's bytes: the counting run's (the tensors stand for saved ones, made before the
        stop: the limit is lifted)."""
        if self.rest < 0:
            self.rest = rest
            return rest
        self.limit = math.inf
        return self.rest


def stops_early(c: StepContext, layer: LayerSpec) -> bool:
    """The layer's last saved tensor is packed where the replay marks it: its last block is an attention, an MLP or
    a MoE block (each ends in packs the replay marks), and the family keeps nothing after it that is replayed only
    as the remainder block (Gemma 3n's AltUp, Gemma 4's per-layer input path: ``block_extras_saved``)."""
    if block_extras_saved(c.spec, layer, c.p.amp, c.r, c.pb, True):
        return False
    last = (
        "moe"
        if layer.moe is not None
        else "mlp"
        if layer.mlp is not None
        else "attention"
        if layer.attention is not None and layer.linear is None and layer.ssm is None and layer.conv is None
        else ""
    )
    return bool(last)


def recompute_layer(c: StepContext, layer: LayerSpec, la: LayerActivations, x: int, fresh: Trace) -> LayerRun:
    """A checkpointed layer run again from its kept input ``x``, stopped at its last pack as torch.utils.checkpoint's
    non-reentrant mode stops it: its allocations before that pack counted on ``fresh`` (a pool of its own, of the
    step's kind), then made on the step's pool ``c.tr``, the later ones left out. A layer that does not stop where
    the replay marks its packs (``stops_early``) runs its whole forward again."""
    tr = c.tr
    if not stops_early(c, layer):
        return layer_forward(c, layer, la, x)
    counting = Recompute(inner=fresh)
    stand_in = fresh.alloc(tr.pool.live[x].size) if x in tr.pool.live else 0
    c.tr = counting
    try:
        layer_forward(c, layer, la, stand_in)
        real = Recompute(inner=tr, limit=counting.last_pack or math.inf, rest=counting.rest)
        c.tr = real
        run = layer_forward(c, layer, la, x)
        real.limit = math.inf  # (a backward op reading the trace it was made with allocates in full)
    finally:
        c.tr = tr
    return run
