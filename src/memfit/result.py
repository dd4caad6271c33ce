"""``Estimate``: a memory estimate with its breakdown, its arithmetic and its JSON form.

JSON contract (binding; other tools depend on it): ``Estimate.to_json()`` has at least
``parameters`` (int), ``total_bytes`` (int) and ``components`` (name → int bytes, ``weights``
always present). ``total_bytes`` is the sum of ``components``: for a GPU workload that is what
the device shows (allocator peak + reserve + CUDA context); ``allocated_bytes`` is the peak that
``torch.cuda.max_memory_allocated()`` reports, where the runtime is PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .inventory import ParameterCount
from .units import fmt_bytes

__all__ = ["Component", "Estimate"]


@dataclass(frozen=True)
class Component:
    """One part of the memory: ``name`` (weights, kv_cache, activations, …), ``bytes`` and the
    arithmetic that produced it, written out (``8,030,261,248 parameters × 2 bytes = 16.06 GB``)."""

    name: str
    bytes: int
    formula: str = ""
    on_device: bool = True  # False: host RAM (offloaded optimizer, CPU layers)


@dataclass(frozen=True)
class Estimate:
    """The answer: components that add up to ``total_bytes``, and what they were computed from."""

    model: str
    mode: str
    dtype: str
    parameters: ParameterCount
    components: tuple[Component, ...]
    allocated_bytes: int | None = None  # PyTorch allocator peak (None where the runtime is not PyTorch)
    notes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # mode-specific extras (per-GPU, vLLM pool …)

    @property
    def total_bytes(self) -> int:
        """Device memory: the sum of the on-device components."""
        return sum(c.bytes for c in self.components if c.on_device)

    @property
    def host_bytes(self) -> int:
        """Host RAM the workload needs besides the device (offload, CPU layers)."""
        return sum(c.bytes for c in self.components if not c.on_device)

    def component(self, name: str) -> int:
        """Bytes of one component (0 if absent)."""
        return sum(c.bytes for c in self.components if c.name == name)

    def explain(self) -> list[str]:
        """The arithmetic, one line per component, then the total."""
        lines = [f"{c.name}: {c.formula or fmt_bytes(c.bytes)}" for c in self.components]
        if len(self.components) == 1:
            return lines
        lines.append(f"total: {' + '.join(fmt_bytes(c.bytes).split(' (')[0] for c in self.components if c.on_device)}"
                     f" = {fmt_bytes(self.total_bytes)}")
        return lines

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "mode": self.mode,
            "dtype": self.dtype,
            "parameters": self.parameters.total,
            "active_parameters": self.parameters.active,
            "parameters_breakdown": dict(self.parameters.by_group),
            "total_bytes": self.total_bytes,
            "allocated_bytes": self.allocated_bytes,
            "host_bytes": self.host_bytes,
            "components": {},
            "explain": {},
            "notes": list(self.notes),
            "details": self.details,
        }
        for c in self.components:
            key = c.name if c.on_device else f"host_{c.name}"
            out["components"][key] = out["components"].get(key, 0) + c.bytes
            out["explain"][key] = c.formula
        return out
