"""The web API's request models: every body is strict, closed (``extra="forbid"``) and ranged, so bad input is a
422 naming the field, the rule and the value before any arithmetic runs."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from ..plot import MAX_POINTS
from ..units import MAX_PARAMETERS
from ..workload import Workload

__all__ = ["MAX_BATCH", "MAX_GPUS", "MAX_TOKENS", "AdviseRequest", "CurveRequest", "EstimateRequest", "FitRequest",
           "PlanRequest", "WorkloadFields"]

MAX_TOKENS = 10_000_000
MAX_BATCH = 1_000_000
MAX_GPUS = 100_000
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"  # a dtype, optimizer or module name

Name = Annotated[StrictStr, Field(min_length=1, max_length=40, pattern=_NAME)]
ModelField = Annotated[
    Annotated[StrictStr, Field(max_length=200)] | Annotated[StrictInt, Field(ge=1, le=MAX_PARAMETERS)] | dict[str, Any],
    Field(description="A catalog id (GET /api/models), a config.json object, or a parameter count "
                      "(an integer, or a string such as \"7B\").",
          examples=["llama-3.1-8b", "7B", 8030261248]),
]


class WorkloadFields(BaseModel):
    """The ``Workload`` fields (see ``memfit.Workload``), each with its range."""

    model_config = ConfigDict(extra="forbid", strict=True)

    mode: Literal["weights", "inference", "train", "lora", "qlora"] = "weights"
    dtype: Name | None = Field(default=None, description="Weight precision or format (fp16, bf16, fp8, int4, "
                               "q4_k_m, …); null: the config's own dtype.")
    batch: int = Field(default=1, ge=1, le=MAX_BATCH)
    context: int = Field(default=2048, ge=1, le=MAX_TOKENS)
    new_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    runtime: Literal["transformers", "vllm", "llamacpp"] = "transformers"
    task: Literal["generate", "forward", "prefill"] = "generate"
    attn: Literal["sdpa", "eager", "flash"] = "sdpa"
    kv_dtype: Name | None = None
    gpu_memory_utilization: float = Field(default=0.9, gt=0.0, le=1.0, allow_inf_nan=False)
    max_num_seqs: int | None = Field(default=None, ge=1, le=MAX_BATCH)
    max_num_batched_tokens: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    block_size: int = Field(default=16, ge=1, le=1024)
    n_gpu_layers: int | None = Field(default=None, ge=0, le=100_000)
    n_batch: int = Field(default=2048, ge=1, le=MAX_TOKENS)
    n_ubatch: int = Field(default=512, ge=1, le=MAX_TOKENS)
    flash_attn: bool = True
    optimizer: Name = "adamw"
    mixed_precision: bool = True
    checkpointing: Literal["none", "full", "selective"] = "none"
    grad_accum: int = Field(default=1, ge=1, le=1_000_000)
    lora_rank: int = Field(default=16, ge=1, le=65_536)
    lora_targets: list[Name] | None = Field(default=None, min_length=1, max_length=64)
    quant: Literal["nf4", "nf4-dq", "fp4", "fp4-dq", "int8"] | None = None
    gpus: int = Field(default=1, ge=1, le=MAX_GPUS)
    zero: int = Field(default=0, ge=0, le=3)
    shard_size: int | None = Field(default=None, ge=1, le=MAX_GPUS)
    offload: Literal["none", "optimizer", "params"] = "none"
    tp: int = Field(default=1, ge=1, le=4096)
    pp: int = Field(default=1, ge=1, le=4096)
    ep: int = Field(default=1, ge=1, le=4096)
    sequence_parallel: bool = False

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = _lone_surrogate(data)
        if where is not None:
            raise ValueError(f"{where} holds a lone UTF-16 surrogate, which is not valid Unicode text; send UTF-8")
        return data

    def workload(self) -> Workload:
        """The ``Workload`` these fields describe (validated)."""
        kw = self.model_dump(exclude={"model", "x", "points", "gpu", "memory", "questions", "formats"})
        targets = kw.pop("lora_targets")
        if targets is not None:
            kw["lora_targets"] = tuple(targets)
        names = _workload_names()
        kw = {k: v for k, v in kw.items() if k in names}
        return Workload(**kw).validate()


def _lone_surrogate(data: Any) -> str | None:
    """Where in a parsed JSON body a string (or key) holds a lone surrogate: 'field model.x', or None."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        items: list[tuple[Any, Any]] = []
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"field {path or 'body'!r}"
        for key, item in items:
            name = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
            if isinstance(key, str) and name != key:
                return f"a key in {path or 'the body'!r}"
            stack.append((f"{path}.{name}" if path else name, item))
    return None


@cache
def _workload_names() -> frozenset[str]:
    return frozenset(Workload.field_names())


class EstimateRequest(WorkloadFields):
    """``POST /api/estimate``: a model and the workload fields."""

    model: ModelField


class CurveRequest(WorkloadFields):
    """``POST /api/curve``: memory at each point of ``x`` (context or batch), the rest from the workload."""

    model: ModelField
    x: Literal["context", "batch"] = "context"
    points: list[Annotated[int, Field(ge=1, le=MAX_TOKENS)]] | None = Field(default=None, min_length=1,
                                                                            max_length=MAX_POINTS)


GpuName = Annotated[StrictStr, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.+\-()/]*$",
                                     description="A GPU id, name or alias from GET /api/gpus.",
                                     examples=["h100-sxm", "rtx 4090"])]
MemoryBytes = Annotated[
    Annotated[StrictInt, Field(ge=1, le=10**15)] | Annotated[StrictStr, Field(min_length=1, max_length=24)],
    Field(description="Overrides the GPU's capacity: bytes, or a size such as \"24GiB\" or \"80GB\".",
          examples=[25769803776, "24GiB"]),
]


class FitRequest(WorkloadFields):
    """``POST /api/fit``: does the model with this workload fit on ``gpus`` × ``gpu``?"""

    model: ModelField
    gpu: GpuName
    memory: MemoryBytes | None = None


class PlanRequest(FitRequest):
    """``POST /api/plan``: the longest context, the largest batch, the fewest GPUs (and llama.cpp layers)."""

    questions: list[Literal["context", "batch", "gpus", "layers"]] | None = Field(default=None, min_length=1,
                                                                                max_length=4)


class AdviseRequest(FitRequest):
    """``POST /api/advise``: every format that fits, ranked by published quality cost."""

    formats: list[Name] | None = Field(default=None, min_length=1, max_length=64)
