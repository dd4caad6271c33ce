"""Plan's line for a multi-GPU answer whose rank is set by terms that sharding does not shrink.

Under ZeRO-3 / FSDP (no tensor or pipeline parallelism) adding a rank divides the sharded states: the parameters'
shards, their gradients and optimizer states (``weights``, ``lora_weights``, ``gradients``, ``optimizer_states``,
``optimizer_temporary``). Every other term of a rank's peak is per rank and stays when GPUs are added: the logits and
the loss (batch × context × vocabulary, the fp32 copies included), the activations, the layers gathered in flight,
the unsharded gradient buffers, the caching allocator's reserve (its segments follow those tensors) and the CUDA
context. When they are more than half of the rank's peak, each GPU added buys little: Llama-3.1-8B LoRA at 8,192
tokens on RTX 4090s needs 18 ranks whose 25 GB peaks hold 0.9 GB of sharded base weights and 12.6 GB of logits.
The line says so and names what shrinks those terms instead; memfit models no chunked (vocabulary-blocked)
cross-entropy, so it names none as a fix."""

from __future__ import annotations

from .fit import FitResult
from .units import fmt_bytes
from .workload import Workload

__all__ = ["SHARDED", "floor_note"]

SHARDED = frozenset({"weights", "lora_weights", "gradients", "optimizer_states", "optimizer_temporary"})
_NAMES = {"logits": "logits and loss", "allocator_reserve": "allocator reserve", "fsdp_gathered": "gathered layers",
          "fsdp_grad_buffers": "unsharded gradient buffers", "cuda_context": "CUDA context"}
_TOKEN_TERMS = ("logits", "activations", "vision_activations")  # they grow with micro-batch × context


def floor_note(fit: FitResult, wl: Workload) -> str:
    """``"; …"`` for a ZeRO-2/3 answer on several GPUs (tp = pp = 1) whose rank peak is more than half per-rank terms
    (``SHARDED``: the rest), else ``""``: those terms, the three largest, and what would shrink them."""
    if fit.gpus < 2 or wl.tp > 1 or wl.pp > 1 or wl.zero < 2:
        return ""
    comps = fit.estimate.components
    total = sum(c.bytes for c in comps)
    floor = sorted((c for c in comps if c.name not in SHARDED and c.bytes > 0), key=lambda c: -c.bytes)
    fixed = sum(c.bytes for c in floor)
    if 2 * fixed <= total:
        return ""
    parts = ", ".join(f"{_NAMES.get(c.name, c.name.replace('_', ' '))} {fmt_bytes(c.bytes)}" for c in floor[:3])
    by = {c.name: c.bytes for c in floor}
    helps = []
    if any(by.get(k) for k in _TOKEN_TERMS):
        helps.append("a shorter context" + (" or a smaller micro-batch with gradient accumulation" if wl.batch > 1
                                            else ""))
    if by.get("activations") and wl.checkpointing != "full":
        helps.append("full activation checkpointing")
    if wl.zero == 2 and by.get("fsdp_gathered"):
        helps.append("ZeRO-3 (the layers resharded after forward)")
    fix = f"; {' or '.join(helps)} would shrink them" if helps else ""
    loss = " (a chunked cross-entropy would too; memfit models none)" if by.get("logits") else ""
    return (f"; {fmt_bytes(fixed)} of the {fmt_bytes(total)} per GPU are per-rank terms sharding does not shrink "
            f"({parts}): more GPUs shrink only the other {fmt_bytes(total - fixed)}{fix}{loss}")
