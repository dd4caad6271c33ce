"""The families whose whole forward (task ``forward``) the pool emulation of ``transformers_pool.py`` replays in
their own module rather than layer by layer: Reformer's chunked, reversible forward (``transformers_reformer``) and
XLM's, with its own cache and held tensors (``transformers_pool_xlm``)."""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_pool_xlm import xlm_forward
from .transformers_reformer import reformer_forward, reformer_shape

__all__ = ["own_forward"]


def own_forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> bool:
    """Replay a family's own forward, its token ids and logits included; False, replaying nothing, elsewhere."""
    if (reformer := reformer_shape(spec)) and wl.task == "forward":
        reformer_forward(tr, reformer, wl.batch, wl.context, dt)
        return True
    return xlm_forward(tr, spec, wl, dt)
