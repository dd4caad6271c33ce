"""The optimizer step of one FSDP2 rank: foreach AdamW's temporary over the rank's sharded parameters.

``torch.optim.AdamW(foreach=True)`` (the default on CUDA when neither ``fused`` nor ``foreach`` is given, and what
Hugging Face's ``adamw_torch`` builds) runs ``_multi_tensor_adam`` (torch/optim/adam.py): per device and dtype group
it updates ``exp_avg`` and ``exp_avg_sq`` in place, then makes ``exp_avg_sq_sqrt = torch._foreach_sqrt(exp_avg_sqs)``,
one new tensor per parameter in the states' dtype (the parameter's), alive together until the ``_foreach_addcdiv_``
that updates the parameters. Under FSDP2 each parameter is a sharded DTensor, so the list is the rank's shard
(``optimizers.optimizer_memory`` prices it per trainable element). The gradients are still there (``zero_grad``
comes after), so at the step a rank holds parameters, gradients, states and this list. ``fused=True`` makes none;
under ``CPUOffloadPolicy`` the step runs on the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...result import Component
from ...units import fmt_bytes

if TYPE_CHECKING:
    from .states import ModelStates

__all__ = ["step_temporary", "step_temporary_component"]


def step_temporary(states: ModelStates, sharded: int, offload: bool) -> tuple[int, float]:
    """The step's temporary on a rank holding ``sharded`` elements, and per element (for the replay); none when
    the optimizer is fused or runs on the host."""
    opt = states.optimizer
    if offload or not opt.step_temporary:
        return 0, 0.0
    per = opt.step_temporary / max(1, states.trainable)
    return int(per * sharded), per


def step_temporary_component(optimizer: str, sharded: int, temporary: int) -> list[Component]:
    """The temporary as a component when the peak is the step."""
    if not temporary:
        return []
    return [Component("optimizer_temporary", temporary, f"{optimizer} step: _foreach_sqrt(exp_avg_sqs) over the "
                      f"{sharded:,} sharded elements at once (torch/optim/adam.py _multi_tensor_adam) = "
                      f"{fmt_bytes(temporary)}")]
