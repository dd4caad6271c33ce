"""``Workload``: what the user wants to do with the model — every knob the formulas read.

The fields, their types, defaults and ranges are declared once, in ``memfit.options.WorkloadOptions``;
``Workload`` is that declaration plus ``validate()``: each field against its declaration, then the rules
that tie fields together. One frozen dataclass for all modes; fields that a mode does not use are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError
from .options import MAX_BATCH, MAX_GPUS, MAX_TOKENS, MODES, RUNTIMES, WorkloadOptions, check_options, values_to_kwargs

__all__ = ["MAX_BATCH", "MAX_GPUS", "MAX_TOKENS", "MODES", "RUNTIMES", "Workload"]


@dataclass(frozen=True)
class Workload(WorkloadOptions):
    """What runs: mode, shapes, runtime and training setup.

    Examples::

        Workload()                                            # weights only, config dtype
        Workload(mode="inference", batch=8, context=4096, new_tokens=256)
        Workload(mode="train", batch=4, context=2048, mixed_precision=True, checkpointing="full")
        Workload(mode="qlora", lora_rank=16, quant="nf4-dq")
    """

    def replace(self, **changes: object) -> Workload:
        from dataclasses import replace
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Workload:
        """Check every field against its declaration, then the cross-field rules; returns self so it chains."""
        check_options(self)
        if self.tp * self.pp > self.gpus and self.gpus != 1:
            raise ConfigError(f"tp × pp = {self.tp * self.pp} exceeds gpus = {self.gpus}; raise --gpus")
        if self.qlora_prep == "trl" and self.mode == "lora" and self.quant is None:
            raise ConfigError("qlora_prep = 'trl' is trl's casts of a 4-bit model; this LoRA base is not quantized: "
                              "use --mode qlora (or --quant nf4-dq), or drop --qlora-prep")
        if self.forward_cache and self.task != "forward":
            raise ConfigError(f"forward_cache is the cache a forward returns; the task is {self.task!r}: add --task "
                              "forward or drop --forward-cache")
        return self

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Workload:
        """A validated Workload from parsed CLI options or a request body (other keys are ignored)."""
        return cls(**values_to_kwargs(cls, values)).validate()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
