"""The web API's request models: every body is strict, closed (``extra="forbid"``) and ranged, so bad input is a
422 naming the field, the rule and the value before any arithmetic runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model, model_validator

from ..estimate import runtime_context
from ..options import MAX_NAME, NAME_PATTERN, RUNTIMES, request_fields, values_to_kwargs
from ..plot import MAX_POINTS
from ..rules import given_fields, resolve
from ..units import MAX_PARAMETERS
from ..workload import Workload

__all__ = ["MAX_BATCH", "MAX_GPUS", "MAX_TOKENS", "AdviseRequest", "CurveRequest", "EstimateRequest", "FitRequest",
           "FitsRequest", "MatrixRequest", "PlanRequest", "WorkloadFields"]

MAX_TOKENS = 10_000_000
MAX_BATCH = 1_000_000
MAX_GPUS = 100_000
Name = Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)]
ModelField = Annotated[
    Annotated[StrictStr, Field(max_length=200)] | Annotated[StrictInt, Field(ge=1, le=MAX_PARAMETERS)] | dict[str, Any],
    Field(description="A catalog id (GET /api/models), a config.json object, or a parameter count "
                      "(an integer, or a string such as \"7B\").",
          examples=["llama-3.1-8b", "7B", 8030261248]),
]


class _Strict(BaseModel):
    """What every request model shares: strict types, no unknown fields, valid Unicode."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: Any) -> Any:
        where = _lone_surrogate(data)
        if where is not None:
            raise ValueError(f"{where} holds a lone UTF-16 surrogate, which is not valid Unicode text; send UTF-8")
        return data


class _WorkloadBase(_Strict):
    """A request with the workload options, and ``workload()``."""

    def workload(self) -> Workload:
        """The ``Workload`` these fields describe (validated)."""
        return Workload(**values_to_kwargs(Workload, self.model_dump())).validate()

    def meant(self, judge: bool = False, gpu: str | None = None,
              memory: int | str | None = None) -> tuple[Workload, tuple[str, ...]]:
        """The workload these fields mean, as the same CLI options (or ``memfit.fit``'s keywords) mean it:
        the fields the request set decide the mode (``rules.resolve``), and with ``judge`` (fit, plan, advise)
        no mode at all is the question whether the model runs: inference. On ``gpu``, Ollama's context is its
        default for the GPU's VRAM unless the request sets ``context``. Returns it and the notes saying so."""
        from ..fit import meant_workload
        from ..hardware import get_device

        opts = values_to_kwargs(Workload, self.model_dump(include=set(self.model_fields_set)))
        device = get_device(gpu, memory=memory) if gpu is not None else None
        if judge:
            wl, notes = meant_workload(None, opts, device)
        else:
            wl, notes = resolve(Workload(**opts), opts)
            wl, more = runtime_context(wl, given_fields(wl, opts), device)
            notes = (*notes, *more)
        return wl.validate(), notes


# The web accepts less than the library where a visitor could otherwise ask for hours of arithmetic.
_TIGHTER: dict[str, float] = {"context": MAX_TOKENS, "new_tokens": MAX_TOKENS, "max_num_batched_tokens": MAX_TOKENS,
            "n_batch": MAX_TOKENS, "n_ubatch": MAX_TOKENS, "gpus": MAX_GPUS, "shard_size": MAX_GPUS}

# Every workload option, derived from its one declaration in memfit.options (range, choices, default, help).
WorkloadFields = create_model("WorkloadFields", __base__=_WorkloadBase,
                              __doc__="The ``Workload`` fields (see ``memfit.Workload``), each with its range.",
                              **request_fields(tighter=_TIGHTER))


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


class EstimateRequest(WorkloadFields):  # type: ignore[valid-type,misc]
    """``POST /api/estimate``: a model and the workload fields."""

    model: ModelField


GpuName = Annotated[StrictStr, Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.+\-()/]*$",
                                     description="A GPU id, name or alias from GET /api/gpus.",
                                     examples=["h100-sxm", "rtx 4090"])]
MemoryBytes = Annotated[
    Annotated[StrictInt, Field(ge=1, le=10**15)] | Annotated[StrictStr, Field(min_length=1, max_length=24)],
    Field(description="Overrides the GPU's capacity: bytes, or a size such as \"24GiB\" or \"80GB\".",
          examples=[25769803776, "24GiB"]),
]


HostBytes = Annotated[
    Annotated[StrictInt, Field(ge=1, le=10**15)] | Annotated[StrictStr, Field(min_length=1, max_length=24)],
    Field(description="The host RAM per GPU that ZeRO-Offload may use (the command line's --host-memory): bytes, "
                      "or a size such as \"256GB\". Judged when given; plan's gpus question searches offload only "
                      "with it.",
          examples=[256000000000, "256GB"]),
]


class _OnGpu(WorkloadFields):  # type: ignore[valid-type,misc]
    """A model and the workload fields on one catalog ``gpu`` (its capacity overridden by ``memory``)."""

    model: ModelField
    gpu: GpuName
    memory: MemoryBytes | None = None


class FitRequest(_OnGpu):
    """``POST /api/fit``: does the model with this workload fit on ``gpus`` × ``gpu``?"""

    host_memory: HostBytes | None = None


class CurveRequest(WorkloadFields):  # type: ignore[valid-type,misc]
    """``POST /api/curve``: memory at each point of ``x`` (context or batch), the rest from the workload. With
    ``gpu``, each point is what the most loaded of ``gpus`` × ``gpu`` holds (as /api/fit splits it)."""

    model: ModelField
    x: Literal["context", "batch"] = "context"
    points: list[Annotated[int, Field(ge=1, le=MAX_TOKENS)]] | None = Field(default=None, min_length=1,
                                                                            max_length=MAX_POINTS)
    gpu: GpuName | None = None
    memory: MemoryBytes | None = None


class PlanRequest(FitRequest):
    """``POST /api/plan``: the longest context, the largest batch, the fewest GPUs (and llama.cpp layers)."""

    questions: list[Literal["context", "batch", "gpus", "layers"]] | None = Field(default=None, min_length=1,
                                                                                max_length=4)


class AdviseRequest(_OnGpu):
    """``POST /api/advise``: every format that fits, ranked by published quality cost."""

    formats: list[Name] | None = Field(default=None, min_length=1, max_length=64)


class FitsRequest(_Strict):
    """``POST /api/fits``: every catalog model on ``gpu`` (inference with ``runtime``, one sequence of at least
    ``context`` tokens): the best format that fits and the longest context in it."""

    gpu: GpuName
    runtime: Literal[RUNTIMES] = "transformers"  # type: ignore[valid-type]  # every runtime memfit knows
    context: int | None = Field(default=None, ge=1, le=MAX_TOKENS)
    memory: MemoryBytes | None = None


class MatrixRequest(_Strict):
    """``POST /api/matrix``: ``memfit.fit_matrix`` — precisions (32/16/8/4-bit) × workloads (inference with
    ``runtime`` at ``context``, LoRA, QLoRA, full fine-tune) for ``model`` on one ``gpu``, a verdict per cell."""

    model: ModelField
    gpu: GpuName
    runtime: Literal[RUNTIMES] = "transformers"  # type: ignore[valid-type]
    context: int | None = Field(default=None, ge=1, le=MAX_TOKENS,
                                description="Inference prompt and training sequence length (2,048 when not given).")
    batch: int = Field(default=1, ge=1, le=MAX_BATCH)
    memory: MemoryBytes | None = None
