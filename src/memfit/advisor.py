"""Quantization advisor: every format that fits a memory budget or a GPU, ranked by its published quality cost.

Quality figures live in ``data/quality.toml`` (perplexity and KL-divergence deltas with the model they were
measured on and their source). The ranking key is the relative perplexity increase over the 16-bit reference,
taken from the most comparable measurement a format has, in this order: Llama-3-8B without imatrix,
Llama-3-8B with imatrix, LLaMA-1-7B, Llama-2-7B, then any other. Unquantized 16/32-bit formats cost 0.
Formats with no published measurement are listed after the measured ones (by bits per weight, most first)
and say so; no figure is ever made up. A format that does not fit is never in ``fitting`` or recommended.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from .errors import ConfigError, MemfitError
from .estimate import ModelRef
from .fit import FitResult, estimate_on, fit_estimate
from .hardware import Device, DtypeCheck, check_dtype, get_device
from .sources.loader import load_model
from .spec import ModelSpec
from .units import fmt_bytes, parse_bytes
from .workload import Workload

__all__ = ["Advice", "AdviceRow", "Measurement", "advise", "measurements"]

REFERENCE = ("float32", "float16", "bfloat16")
PREFERENCE = ("Llama-3-8B", "Llama-3-8B/imatrix", "LLaMA-1-7B", "Llama-2-7B")
DEFAULT_FORMATS = (
    "bfloat16", "float16", "fp8", "int8", "bnb-int8", "gptq-8bit", "nf4", "nf4-dq", "fp4", "gptq", "awq",
    "mxfp4", "nvfp4", "q8_0", "q6_k", "q5_k_m", "q5_k_s", "q5_1", "q5_0", "q4_k_m", "q4_k_s", "q4_1", "q4_0",
    "iq4_nl", "iq4_xs", "q3_k_l", "q3_k_m", "q3_k_s", "iq3_m", "iq3_s", "iq3_xs", "iq3_xxs", "q2_k", "iq2_m",
    "iq2_s", "iq2_xs", "iq2_xxs", "iq1_m", "iq1_s",
)


@dataclass(frozen=True)
class Measurement:
    """One published figure for one format on one model."""

    format: str
    model: str
    dataset: str
    source: str
    baseline: str = "float16"
    baseline_ppl: float | None = None
    ppl: float | None = None
    delta_ppl: float | None = None
    delta_pct: float | None = None
    kld: float | None = None
    imatrix: bool = False
    size_gib: float | None = None

    @property
    def relative_pct(self) -> float | None:
        """Perplexity increase over the baseline in percent: published %, else ΔPPL / baseline, else from PPLs."""
        if self.delta_pct is not None:
            return self.delta_pct
        if self.baseline_ppl:
            if self.delta_ppl is not None:
                return 100 * self.delta_ppl / self.baseline_ppl
            if self.ppl is not None:
                return 100 * (self.ppl - self.baseline_ppl) / self.baseline_ppl
        return None

    @property
    def key(self) -> str:
        return self.model + ("/imatrix" if self.imatrix else "")

    def to_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("format", "model", "dataset", "baseline", "baseline_ppl", "ppl",
                                             "delta_ppl", "delta_pct", "kld", "imatrix", "size_gib", "source")}
        out["relative_pct"] = self.relative_pct
        return out


@cache
def measurements() -> tuple[Measurement, ...]:
    """Every published quality figure in ``data/quality.toml``."""
    text = (resources.files("memfit") / "data" / "quality.toml").read_text(encoding="utf-8")
    return tuple(Measurement(**row) for row in tomllib.loads(text)["measurement"])


def _canonical(name: str) -> str:
    from .formats import get_format

    try:
        return get_format(name).name
    except MemfitError:
        return name.lower()


def _for_format(fmt: str) -> list[Measurement]:
    c = _canonical(fmt)
    return [m for m in measurements() if _canonical(m.format) == c]


def _primary(ms: list[Measurement]) -> Measurement | None:
    usable = [m for m in ms if m.relative_pct is not None]
    if not usable:
        return None
    rank = {k: i for i, k in enumerate(PREFERENCE)}
    return min(usable, key=lambda m: rank.get(m.key, len(rank)))


@dataclass(frozen=True)
class AdviceRow:
    """One format: does it fit, what it costs in quality (and on what evidence)."""

    format: str
    bits: float | None
    fits: bool
    per_gpu_bytes: int
    headroom_bytes: int
    quality_pct: float | None  # relative perplexity increase; None: no published measurement
    quality_basis: str
    measurements: tuple[Measurement, ...]
    dtype_check: DtypeCheck | None
    runtime: str
    error: str | None = None
    compared_on: str | None = None  # the base model of the ranked figure (None: not ranked against the others)
    source: str | None = None  # where the ranked (or shown) figure comes from

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "bits": self.bits, "fits": self.fits, "per_gpu_bytes": self.per_gpu_bytes,
            "headroom_bytes": self.headroom_bytes, "quality_cost_pct": self.quality_pct,
            "quality_basis": self.quality_basis, "compared_on": self.compared_on, "source": self.source,
            "measurements": [m.to_json() for m in self.measurements],
            "native": None if self.dtype_check is None else self.dtype_check.native,
            "dtype_message": None if self.dtype_check is None else self.dtype_check.message,
            "runtime": self.runtime, "error": self.error,
        }


@dataclass(frozen=True)
class Advice:
    """All formats tried; ``fitting`` ranked by quality cost; ``recommended`` the best native one that fits."""

    model: str
    device: Device
    workload: Workload
    rows: tuple[AdviceRow, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def fitting(self) -> tuple[AdviceRow, ...]:
        return tuple(r for r in self.rows if r.fits and r.error is None)

    @property
    def recommended(self) -> AdviceRow | None:
        for r in self.fitting:
            if r.quality_pct is not None and r.compared_on is not None and \
                    (r.dtype_check is None or r.dtype_check.native is not False):
                return r
        return None

    def to_json(self) -> dict[str, Any]:
        rec = self.recommended
        return {
            "model": self.model, "device": self.device.id, "capacity_bytes": self.device.capacity_bytes,
            "recommended": None if rec is None else rec.format,
            "fitting": [r.to_json() for r in self.fitting],
            "not_fitting": [r.to_json() for r in self.rows if not r.fits or r.error is not None],
            "ranking": "relative perplexity increase over 16 bits, compared only on one base model (compared_on); "
                       "formats measured on other models follow unranked, formats without a measurement last",
            "notes": list(self.notes),
        }


def _is_gguf(fmt: str) -> bool:
    from .formats import get_format

    try:
        f = get_format(fmt)
    except MemfitError:
        return False
    return getattr(f, "ftype", None) is not None or f.name.startswith(("q", "iq", "tq", "gguf-"))


def common_model(formats: list[str]) -> str | None:
    """The base model with published figures (same evaluation, same 16-bit reference) for the most of
    ``formats``: the one set the formats are ranked on, like for like (ties: the preferred set)."""
    rank: dict[str, int] = {}
    for i, k in enumerate(PREFERENCE):
        rank.setdefault(k.split("/")[0], i)
    count: dict[str, int] = {}
    for f in formats:
        for model in {m.model for m in _for_format(f) if m.relative_pct is not None}:
            count[model] = count.get(model, 0) + 1
    return min(count, key=lambda k: (-count[k], rank.get(k, len(rank)))) if count else None


def _row(spec: ModelSpec, device: Device, wl: Workload, fmt: str, common: str | None = None) -> AdviceRow:
    from .formats import get_format

    ms = _for_format(fmt)
    canonical = _canonical(fmt)
    prim = _primary([m for m in ms if m.model == common]) or _primary(ms)
    same = prim is not None and prim.model == common
    compared = (common or "the 16-bit reference") if canonical in REFERENCE else (common if same else None)
    if canonical in REFERENCE:
        q: float | None = 0.0
        basis = "unquantized: the reference the measurements compare against"
    elif prim is not None:
        q = prim.relative_pct
        assert q is not None
        basis = (f"+{q:.2f} % perplexity on {prim.model}{' (imatrix)' if prim.imatrix else ''}, {prim.dataset}"
                 + (f"; mean KLD {prim.kld}" if prim.kld is not None else "") + f" [{prim.source}]")
    else:
        q, basis = None, "no published measurement"
    runtime = wl.runtime
    if wl.mode == "inference":
        if _is_gguf(fmt):
            runtime = "llamacpp"
        elif runtime == "llamacpp":
            runtime = "transformers"
    try:
        bits: float | None = get_format(fmt).bits
        cand = wl.replace(dtype=fmt, runtime=runtime)
        r: FitResult = fit_estimate(estimate_on(spec, cand, device), device, cand)
    except MemfitError as e:
        return AdviceRow(fmt, None, False, 0, 0, q, basis, tuple(ms), None, runtime, error=str(e),
                         compared_on=compared, source=None if prim is None else prim.source)
    return AdviceRow(canonical, bits, r.fits, r.max_gpu_bytes, r.headroom_bytes, q, basis, tuple(ms),
                     check_dtype(device, canonical), runtime, compared_on=compared,
                     source=None if prim is None or canonical in REFERENCE else prim.source)


def advise(model: ModelRef, gpu: str | Device | None = None, workload: Workload | None = None, *,
           budget: int | str | None = None, formats: tuple[str, ...] | list[str] | None = None,
           memory: int | str | None = None, **options: Any) -> Advice:
    """Every format that fits ``gpu`` (or ``budget`` bytes), ranked by published quality cost.

    ``advise("llama-3.1-8b", "rtx 4060 ti")`` weighs the weights alone; pass ``mode="inference",
    context=8192`` to include the KV cache and runtime overheads::

        a = memfit.advise("llama-3.1-70b", budget="48GB")
        a.recommended.format, [r.format for r in a.fitting]
    """
    if gpu is None and budget is None:
        raise ConfigError("give a GPU (--gpu) or a memory budget (--budget 24GB)")
    if gpu is not None:
        device = get_device(gpu, memory=memory if memory is not None else budget)
    else:
        assert budget is not None
        cap = parse_bytes(budget) if isinstance(budget, str) else int(budget)
        if cap <= 0:
            raise ConfigError(f"budget = {budget!r} must be a positive size such as 24GB")
        device = Device(id="budget", name=f"a {fmt_bytes(cap)} budget", vendor="", kind="budget", arch="",
                        memory_gb=cap / 2**30, memory_bytes=cap, capacity_bytes=cap, capacity_basis="given budget",
                        bandwidth=None, dtypes=(), source="user supplied")
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    wl = (workload or Workload()).replace(**options) if options else (workload or Workload())
    wl.validate()
    names = list(formats) if formats else list(DEFAULT_FORMATS)
    common = common_model(names)
    rows = [_row(spec, device, wl, f, common) for f in names]
    ranked = sorted((r for r in rows if r.compared_on is not None and r.quality_pct is not None),
                    key=lambda r: (r.quality_pct if r.quality_pct is not None else 0.0, -(r.bits or 0)))
    elsewhere = sorted((r for r in rows if r.compared_on is None and r.quality_pct is not None),
                       key=lambda r: -(r.bits or 0))
    unmeasured = sorted((r for r in rows if r.quality_pct is None), key=lambda r: -(r.bits or 0))
    notes = (f"ranked like for like on figures measured on {common} (same base model, same evaluation); formats "
             "with figures only on other models follow, by bits, not ranked against them (Llama-3-8B loses more "
             "to quantization than Llama-2-7B: q4_K_M ΔPPL 0.175 vs 0.0825 in the same README)",) if common else ()
    return Advice(spec.name, device, wl, tuple(ranked + elsewhere + unmeasured), notes)
