"""One model on one GPU: precisions × workloads, each cell fits / does not fit / cannot run, with the bytes.

``fit_matrix(model, gpu, context=None, runtime="transformers", batch=1, memory=None) -> FitMatrix`` is a pure
function of its arguments (no I/O besides loading the model reference): the CLI (``memfit matrix``), the Python
API and the web page call it alike. Rows are weight precisions by width (``PRECISIONS``), columns the workloads
(``WORKLOADS``), and each cell is judged by ``memfit.fit`` on the workload it names (``MatrixCell.options``, the
Workload fields, so a page can turn a cell into a fit request):

* ``inference`` — ``runtime`` at ``context`` tokens and ``batch`` sequences; the format of each width is the
  runtime's usual one (``INFERENCE_FORMATS``: transformers bf16 / bitsandbytes LLM.int8 / NF4, vLLM and SGLang
  bf16 / FP8 / AWQ, llama.cpp and Ollama F32 / F16 / Q8_0 / Q4_K_M), except that the checkpoint's own quantized
  format takes the row of its width when the runtime runs it (gpt-oss-20b's MXFP4 on the 4-bit row);
* ``lora`` — LoRA adapters on a 32- or 16-bit base (a quantized base is the QLoRA column);
* ``qlora`` — LoRA adapters on a bitsandbytes base: 8-bit (LLM.int8) or 4-bit (NF4 with double quantization);
* ``train`` — full fine-tuning with AdamW: 32-bit is fp32 throughout, 16-bit is mixed precision (fp32 master
  weights, bf16 compute: memfit's default, DeepSpeed's and Megatron-LM's recipe); 8- and 4-bit weights cannot
  be trained (the cell says so).

Training columns use ``context`` (2,048 when not given) as the sequence length and ``batch`` as the
micro-batch, on one GPU. A cell is ``fits`` True/False with ``per_gpu_bytes``, or ``fits`` None with ``reason``
when the combination does not exist or the runtime refuses it (the refusal's own line).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import MemfitError
from .estimate import ModelRef, default_format, runtime_context
from .fit import fit
from .formats import get_format
from .hardware import Device, get_device
from .rules import on_llamacpp
from .sources.loader import load_model
from .spec import ModelSpec
from .workload import Workload

__all__ = ["INFERENCE_FORMATS", "PRECISIONS", "WORKLOADS", "FitMatrix", "MatrixCell", "fit_matrix"]

PRECISIONS: tuple[str, ...] = ("32-bit", "16-bit", "8-bit", "4-bit")
WORKLOADS: tuple[str, ...] = ("inference", "lora", "qlora", "train")
WORKLOAD_LABELS = {"inference": "inference", "lora": "LoRA", "qlora": "QLoRA", "train": "full fine-tune"}
_BITS = {"32-bit": 32, "16-bit": 16, "8-bit": 8, "4-bit": 4}

# the weight format each runtime usually runs at each width (memfit format names)
INFERENCE_FORMATS: dict[str, dict[str, str]] = {
    "transformers": {"32-bit": "float32", "16-bit": "bfloat16", "8-bit": "bnb-int8", "4-bit": "nf4"},
    "vllm": {"32-bit": "float32", "16-bit": "bfloat16", "8-bit": "fp8", "4-bit": "awq"},
    "llamacpp": {"32-bit": "f32", "16-bit": "f16", "8-bit": "q8_0", "4-bit": "q4_k_m"},
}
INFERENCE_FORMATS["sglang"] = INFERENCE_FORMATS["vllm"]
INFERENCE_FORMATS["ollama"] = INFERENCE_FORMATS["llamacpp"]

_NOT_A_WORKLOAD = {
    ("lora", "8-bit"): "LoRA on a quantized base is QLoRA (the QLoRA column)",
    ("lora", "4-bit"): "LoRA on a quantized base is QLoRA (the QLoRA column)",
    ("qlora", "32-bit"): "QLoRA trains adapters on a 4- or 8-bit base; on a 32-bit base it is LoRA",
    ("qlora", "16-bit"): "QLoRA trains adapters on a 4- or 8-bit base; on a 16-bit base it is LoRA",
    ("train", "8-bit"): "full fine-tuning updates every weight, and bitsandbytes 8-bit weights cannot be trained: "
                        "QLoRA (the QLoRA column) trains adapters on that base",
    ("train", "4-bit"): "full fine-tuning updates every weight, and bitsandbytes 4-bit weights cannot be trained: "
                        "QLoRA (the QLoRA column) trains adapters on that base",
}


@dataclass(frozen=True)
class MatrixCell:
    """One precision × workload: ``fits`` (None: not a workload that exists, or refused: see ``reason``)."""

    precision: str
    workload: str
    format: str | None  # the memfit weight format (or bitsandbytes quant) judged
    fits: bool | None
    per_gpu_bytes: int | None
    headroom_bytes: int | None
    reason: str  # the fit's summary, or why there is no verdict
    options: dict[str, Any]  # the Workload fields of this cell ({} when none)

    def to_json(self) -> dict[str, Any]:
        return {"precision": self.precision, "workload": self.workload, "format": self.format, "fits": self.fits,
                "per_gpu_bytes": self.per_gpu_bytes, "headroom_bytes": self.headroom_bytes, "reason": self.reason,
                "options": self.options}


@dataclass(frozen=True)
class FitMatrix:
    """All cells for one model on one device, row by row (``PRECISIONS`` × ``WORKLOADS``)."""

    model: str
    device: Device
    capacity_bytes: int
    context: int  # the inference column's (training columns: the asked context, in each cell's options)
    batch: int
    runtime: str
    checkpoint_format: str
    cells: tuple[MatrixCell, ...]
    notes: tuple[str, ...] = ()

    def cell(self, precision: str, workload: str) -> MatrixCell:
        for c in self.cells:
            if c.precision == precision and c.workload == workload:
                return c
        raise KeyError((precision, workload))

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "device": self.device.id, "device_name": self.device.name,
                "capacity_bytes": self.capacity_bytes, "context": self.context, "batch": self.batch,
                "runtime": self.runtime, "checkpoint_format": self.checkpoint_format,
                "precisions": list(PRECISIONS), "workloads": list(WORKLOADS),
                "workload_labels": dict(WORKLOAD_LABELS), "cells": [c.to_json() for c in self.cells],
                "notes": list(self.notes)}


def _width(fmt: str) -> str | None:
    """The row of a format by its bits per weight (None: an unknown name)."""
    try:
        bits = get_format(fmt).bits
    except MemfitError:
        return None
    return "32-bit" if bits >= 24 else "16-bit" if bits >= 12 else "8-bit" if bits >= 6 else "4-bit"


def _inference_formats(spec: ModelSpec, runtime: str, precision: str) -> list[str]:
    usual = INFERENCE_FORMATS[runtime][precision]
    own = default_format(spec, "inference")
    if precision in ("8-bit", "4-bit") and own != usual and _width(own) == precision:
        return [own, usual]
    if precision == "16-bit" and own in ("float16", "fp16") and not on_llamacpp(runtime):
        return ["float16"]  # a float16 checkpoint runs in float16
    return [usual]


def _candidates(spec: ModelSpec, workload: str, precision: str, runtime: str) -> list[dict[str, Any]]:
    """The Workload fields to try for one cell, first choice first ([] : no such workload)."""
    if (workload, precision) in _NOT_A_WORKLOAD:
        return []
    if workload == "inference":
        return [{"mode": "inference", "runtime": runtime, "dtype": f}
                for f in _inference_formats(spec, runtime, precision)]
    if workload == "lora":
        return [{"mode": "lora", "dtype": "float32" if precision == "32-bit" else "bfloat16"}]
    if workload == "qlora":
        return [{"mode": "qlora", "quant": "int8" if precision == "8-bit" else "nf4-dq"}]
    if precision == "32-bit":
        return [{"mode": "train", "dtype": "float32", "mixed_precision": False}]
    return [{"mode": "train", "dtype": "bfloat16", "mixed_precision": True}]


def _cell(spec: ModelSpec, device: Device, base: Workload, asked: int, workload: str, precision: str
          ) -> MatrixCell:
    """One cell; training reads ``asked`` tokens (Ollama's context by VRAM is the inference column's only)."""
    tries = _candidates(spec, workload, precision, base.runtime)
    context = base.context if workload == "inference" else asked
    if not tries:
        return MatrixCell(precision, workload, None, None, None, None, _NOT_A_WORKLOAD[(workload, precision)], {})
    first_error = ""
    for opts in tries:
        fields = {"context": context, "batch": base.batch, **opts}
        fmt = str(opts.get("quant") or opts.get("dtype"))
        try:
            wl = Workload(**fields).validate()
            r = fit(spec, device, wl)
        except MemfitError as e:  # the runtime or mode cannot run it: try the next format, else say why
            first_error = first_error or str(e)
            continue
        return MatrixCell(precision, workload, fmt, r.fits, r.max_gpu_bytes, r.headroom_bytes, r.summary(), fields)
    opts = tries[0]
    return MatrixCell(precision, workload, str(opts.get("quant") or opts.get("dtype")), None, None, None,
                      first_error, {"context": context, "batch": base.batch, **opts})


def fit_matrix(model: ModelRef, gpu: str | Device, *, context: int | None = None, runtime: str = "transformers",
               batch: int = 1, memory: int | str | None = None) -> FitMatrix:
    """Precisions × workloads for ``model`` on one ``gpu``: a ``FitMatrix`` of ``MatrixCell``.

    ``context`` (default 2,048; under Ollama the inference column takes Ollama's default for the GPU's VRAM) is
    the inference prompt and the training sequence length, ``runtime`` the inference column's engine, ``batch``
    the sequences (inference) or the micro-batch (training); ``memory`` overrides the device's capacity (bytes
    or "24GiB")::

        m = memfit.fit_matrix("llama-3.1-8b", "rtx 4090", context=8192)
        m.cell("4-bit", "qlora").fits, m.cell("16-bit", "inference").per_gpu_bytes, m.to_json()
    """
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    device = get_device(gpu, memory=memory)
    given = ("context",) if context is not None else ()
    asked = 2048 if context is None else context
    base = Workload(mode="inference", runtime=runtime, context=asked, batch=batch)
    base, notes = runtime_context(base.validate(), given, device)
    cells = tuple(_cell(spec, device, base, asked, w, p) for p in PRECISIONS for w in WORKLOADS)
    return FitMatrix(spec.name, device, device.capacity_bytes, base.context, base.batch, base.runtime,
                     default_format(spec, "inference"), cells, notes)
