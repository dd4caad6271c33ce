"""The families whose whole forward the pool emulation of ``transformers_pool.py`` replays in their own module
rather than layer by layer: Reformer's chunked, reversible forward (``transformers_reformer``; the prompt's forward of
every task, not the decoding steps), XLM's (task ``forward``), with its own cache and held tensors
(``transformers_pool_xlm``), ProphetNet's decoder (task ``forward``: its main and predict streams, their relative
buckets and masks, ``transformers_pool_prophetnet``) and CPM-Ant's (task ``forward``: its prompt tokens, masks and
position bias, ``transformers_pool_cpmant``)."""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..allocator_trace import Trace
from .transformers_pool_cpmant import cpmant_forward
from .transformers_pool_prophetnet import prophetnet_forward
from .transformers_pool_xlm import xlm_forward
from .transformers_reformer import reformer_forward, reformer_shape

__all__ = ["own_forward"]


def own_forward(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> bool:
    """Replay a family's own forward, its token ids and logits included; False, replaying nothing, elsewhere."""
    if reformer := reformer_shape(spec):  # every task's prompt forward (its decoding steps are not replayed)
        reformer_forward(tr, reformer, wl.batch, wl.context, dt, task=wl.task)
        return True
    return xlm_forward(tr, spec, wl, dt) or prophetnet_forward(tr, spec, wl, dt) or cpmant_forward(tr, spec, wl, dt)
