"""``Workload``: what the user wants to do with the model — every knob the formulas read.

One frozen dataclass for all modes; fields that a mode does not use are ignored by it.
``Workload.validate()`` checks ranges and names and raises ConfigError with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from .errors import ConfigError

__all__ = ["MODES", "Workload"]

Mode = Literal["weights", "inference", "train", "lora", "qlora"]
MODES: tuple[str, ...] = ("weights", "inference", "train", "lora", "qlora")
RUNTIMES: tuple[str, ...] = ("transformers", "vllm", "llamacpp")
TASKS: tuple[str, ...] = ("generate", "forward", "prefill")
ATTN: tuple[str, ...] = ("sdpa", "eager", "flash")
MAX_TOKENS = 100_000_000
MAX_BATCH = 1_000_000
MAX_GPUS = 1_000_000


@dataclass(frozen=True)
class Workload:
    """What runs: mode, shapes, runtime and training setup.

    Examples::

        Workload()                                            # weights only, config dtype
        Workload(mode="inference", batch=8, context=4096, new_tokens=256)
        Workload(mode="train", batch=4, context=2048, mixed_precision=True, checkpointing="full")
        Workload(mode="qlora", lora_rank=16, quant="nf4-dq")
    """

    mode: Mode = "weights"
    dtype: str | None = None  # weight precision/format; None: the config's own dtype
    # shapes
    batch: int = 1  # sequences (inference) or micro-batch (training)
    context: int = 2048  # prompt tokens (inference) or sequence length (training)
    new_tokens: int = 0  # tokens generated after the prompt
    # inference
    runtime: str = "transformers"
    task: str = "generate"  # transformers: generate | forward (all-token logits) | prefill
    attn: str = "sdpa"  # sdpa | eager | flash
    kv_dtype: str | None = None  # None: the compute dtype
    gpu_memory_utilization: float = 0.9  # vllm
    max_num_seqs: int | None = None  # vllm
    max_num_batched_tokens: int | None = None  # vllm
    block_size: int = 16  # vllm KV block
    n_gpu_layers: int | None = None  # llama.cpp -ngl (None: all)
    n_batch: int = 2048  # llama.cpp -b
    n_ubatch: int = 512  # llama.cpp -ub
    flash_attn: bool = True  # llama.cpp -fa
    # training
    optimizer: str = "adamw"
    mixed_precision: bool = True  # fp32 master weights + bf16 autocast
    checkpointing: str = "none"  # none | full | selective
    grad_accum: int = 1
    lora_rank: int = 16
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    quant: str | None = None  # bitsandbytes on-the-fly quantization: nf4, nf4-dq, fp4, int8
    # parallelism
    gpus: int = 1
    zero: int = 0  # DeepSpeed ZeRO stage 0-3 (FSDP FULL_SHARD = 3, SHARD_GRAD_OP = 2)
    shard_size: int | None = None  # GPUs one ZeRO/FSDP shard group spans (FSDP HYBRID_SHARD); None: all
    offload: str = "none"  # none | optimizer | params (ZeRO-Offload / ZeRO-Infinity to CPU)
    tp: int = 1
    pp: int = 1
    ep: int = 1
    sequence_parallel: bool = False

    def replace(self, **changes: object) -> Workload:
        from dataclasses import replace
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Workload:
        """Check every field; returns self so it chains."""
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        for name, hi in (("batch", MAX_BATCH), ("context", MAX_TOKENS), ("gpus", MAX_GPUS), ("tp", 4096),
                         ("pp", 4096), ("ep", 4096), ("grad_accum", 1_000_000), ("block_size", 1024),
                         ("n_batch", MAX_TOKENS), ("n_ubatch", MAX_TOKENS), ("lora_rank", 65536)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise ConfigError(f"{name} = {v!r} must be an integer from 1 to {hi:,}")
        for name, hi in (("max_num_seqs", MAX_BATCH), ("max_num_batched_tokens", MAX_TOKENS)):
            v = getattr(self, name)  # optional vLLM knobs: None means the engine default, 0 is a mistake
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi):
                raise ConfigError(f"{name} = {v!r} must be an integer from 1 to {hi:,} (or left out for vLLM's "
                                  "default)")
        if isinstance(self.new_tokens, bool) or not isinstance(self.new_tokens, int) \
                or not 0 <= self.new_tokens <= MAX_TOKENS:
            raise ConfigError(f"new_tokens = {self.new_tokens!r} must be an integer from 0 to {MAX_TOKENS:,}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime {self.runtime!r} is not one of {', '.join(RUNTIMES)}")
        if self.task not in TASKS:
            raise ConfigError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.attn not in ATTN:
            raise ConfigError(f"attn {self.attn!r} is not one of {', '.join(ATTN)}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ConfigError(f"gpu_memory_utilization = {self.gpu_memory_utilization} must be in (0, 1]")
        if self.zero not in (0, 1, 2, 3):
            raise ConfigError(f"zero = {self.zero!r} must be a ZeRO stage 0, 1, 2 or 3")
        if self.checkpointing not in ("none", "full", "selective"):
            raise ConfigError(f"checkpointing {self.checkpointing!r} must be none, full or selective")
        if self.offload not in ("none", "optimizer", "params"):
            raise ConfigError(f"offload {self.offload!r} must be none, optimizer or params")
        if self.shard_size is not None and not 1 <= self.shard_size <= MAX_GPUS:
            raise ConfigError(f"shard_size = {self.shard_size} must be from 1 to the GPU count")
        if self.n_gpu_layers is not None and not 0 <= self.n_gpu_layers <= 100_000:
            raise ConfigError(f"n_gpu_layers = {self.n_gpu_layers} must be from 0 to the layer count")
        if self.tp * self.pp > self.gpus and self.gpus != 1:
            raise ConfigError(f"tp × pp = {self.tp * self.pp} exceeds gpus = {self.gpus}; raise --gpus")
        return self

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
