"""Plan's line for a multi-GPU QLoRA answer: the layout is accelerate's FSDP1, and what backs its figure.

``plan -q gpus`` searches QLoRA on several GPUs only as FSDP1 (``FullyShardedDataParallel``, the layout
fms-acceleration's and PEFT's FSDP-QLoRA recipes run: the 4-bit weights stored as bf16 so FSDP1 can flatten them,
``memory/training/fsdp1_qlora.py``). The simulator cannot confirm such an answer: bitsandbytes' 4-bit layers need a
CUDA build that the simulator's CPU environment does not have (tests/data/parallel/README.md), so the line says what
the rank's figure rests on instead: the published two-GPU runs (allocated peak within −3.1 … +0.1 %) and the device
total's unexplained shortfall against their nvidia-smi peaks (tests/data/groundtruth/published-frameworks.md)."""

from __future__ import annotations

from .workload import Workload

__all__ = ["qlora_note"]


def qlora_note(wl: Workload) -> str:
    """``"; …"`` for a QLoRA answer on several GPUs under FSDP1, else ``""``."""
    quantized = wl.mode == "qlora" or (wl.mode == "lora" and wl.quant is not None)
    if wl.gpus < 2 or not quantized or wl.fsdp_version != 1:
        return ""
    return ("; as accelerate's FSDP1 (FullyShardedDataParallel, --fsdp-version 1: the 4-bit weights flattened as bf16 "
            "storage; FSDP2 QLoRA is not modelled rank by rank). Not confirmed in simulation (the simulator cannot run "
            "bitsandbytes on the CPU); the rank's allocated peak is within -3.1 .. +0.1 % of published two-GPU runs, "
            "but its device total is UNVALIDATED: their nvidia-smi peaks were up to 33 % above memfit's, so leave "
            "that margin")
