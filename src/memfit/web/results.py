"""What the routes compute, remembered where the inputs are frozen: the catalog rows, the weights at each common
precision, and ``estimate(...).to_json()`` for the last 4,096 distinct requests."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
from typing import Any

from ..errors import MemfitError
from ..estimate import estimate
from ..hardware import Device
from ..memory.weights import weights_bytes
from ..sources.catalog import catalog_rows
from ..spec import ModelSpec
from ..workload import Workload

__all__ = ["estimate_json", "format_choices", "models", "partial_curve", "per_gpu_curve", "weights_by_dtype"]

_CHART_FORMATS = ("float32", "bfloat16", "float16", "fp8", "int8", "int4", "nf4", "gptq", "awq", "mxfp4", "nvfp4",
                  "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k", "iq2_xxs")


@cache
def models() -> list[dict[str, Any]]:
    """The bundled catalog, one row per model."""
    return [dict(r) for r in catalog_rows()]


@cache
def _format_names() -> list[str]:
    """The common precisions this memfit knows, for the weights-by-precision chart."""
    from ..formats import get_format

    names = []
    for name in _CHART_FORMATS:
        try:
            get_format(name)
        except (MemfitError, KeyError, ValueError):
            continue
        names.append(name)
    return names


def weights_by_dtype(spec: ModelSpec) -> dict[str, int]:
    """The weights' bytes at each common precision."""
    try:
        return dict(_weights_by_dtype_cached(spec))
    except TypeError:  # a spec holding something unhashable
        return {name: weights_bytes(spec, name) for name in _format_names()}


@lru_cache(maxsize=256)
def _weights_by_dtype_cached(spec: ModelSpec) -> tuple[tuple[str, int], ...]:
    return tuple((name, weights_bytes(spec, name)) for name in _format_names())


def estimate_json(spec: ModelSpec, wl: Workload) -> dict[str, Any]:
    """``estimate(spec, wl).to_json()``, remembered for the last 4,096 distinct requests (both are frozen)."""
    try:
        return _estimate_json_cached(spec, wl)
    except TypeError:  # unhashable: a spec holding a dict or list
        return estimate(spec, wl).to_json()


@lru_cache(maxsize=4096)
def _estimate_json_cached(spec: ModelSpec, wl: Workload) -> dict[str, Any]:
    doc: dict[str, Any] = estimate(spec, wl).to_json()
    return doc


@cache
def format_choices() -> list[dict[str, str]]:
    """Every named format (not the ``-pure`` GGUF variants), for the page's precision field."""
    try:
        from ..formats import list_formats
    except ImportError:
        return [{"name": n, "label": n} for n in _format_names()]
    return [{"name": f.name, "label": f.label} for f in list_formats() if not f.name.endswith("-pure")]


def per_gpu_curve(spec: ModelSpec, wl: Workload, x: str, points: Sequence[int] | None, device: Device,
                  stop_at: float | None = None) -> dict[str, Any]:
    """Like ``plot.curve(...).to_json()``, but each point is what the most loaded GPU of ``device`` holds, as
    ``fit`` judges it (vLLM planned for this device; weights split as the layout splits them): the figures the
    page compares with one GPU's memory. The workload's own value is computed first; past ``stop_at``
    (``time.time()``) no further point is started: the answer holds the points done so far (at least that one),
    ``"partial": true`` and a note saying so."""
    import time

    from ..fit import estimate_on, split_per_gpu
    from ..plot import MAX_POINTS, default_points

    current = int(getattr(wl, x))
    pts = tuple(sorted(set(points))) if points else default_points(x, current, spec.max_position_embeddings)
    pts = pts[:MAX_POINTS]
    # the workload's own value first (the point the page marks), then the others from the smallest
    order = sorted(pts, key=lambda p: (p != current, p))
    found: dict[int, tuple[dict[str, int], int]] = {}
    model = mode = dtype = ""
    for p in order:
        if found and stop_at is not None and time.time() > stop_at:
            break
        at = wl.replace(**{x: p})
        est = estimate_on(spec, at, device)
        per, _, comps = split_per_gpu(est, at)
        found[p] = (comps, max(per))
        model, mode, dtype = est.model, est.mode, est.dtype
    done = sorted(found)
    per_point = [found[p][0] for p in done]
    totals = [found[p][1] for p in done]
    names: list[str] = []
    for comps in per_point:
        names += [k for k in comps if k not in names]
    doc: dict[str, Any] = {
        "model": model, "mode": mode, "dtype": dtype, "x": x, "points": done, "components": names,
        "series": {n: [int(c.get(n, 0)) for c in per_point] for n in names}, "total_bytes": totals,
        "per_gpu": True, "device": device.id, "capacity_bytes": device.capacity_bytes, "gpus": wl.gpus}
    if len(done) < len(pts):
        doc["partial"] = True
        doc["note"] = (f"partial: {len(done)} of {len(pts)} points ({x} = {', '.join(f'{p:,}' for p in done)}); the "
                       "rest needs more time than this server gives one request (the memfit command line draws them "
                       "all)")
    return doc


def partial_curve(spec: ModelSpec, wl: Workload, x: str, points: Sequence[int] | None,
                  stop_at: float | None = None) -> dict[str, Any]:
    """``plot.curve(spec, wl, x, points).to_json()``, point by point: the workload's own value first, and past
    ``stop_at`` (``time.time()``) no further point is started; then the answer holds the points done (at least
    that one), ``"partial": true`` and a note. Complete, it is the same JSON as ``plot.curve``."""
    import time

    from ..plot import MAX_POINTS, curve, default_points

    current = int(getattr(wl, x))
    pts = tuple(sorted(set(points))) if points else default_points(x, current, spec.max_position_embeddings)
    if len(pts) > MAX_POINTS or not pts:  # plot.curve's own refusal
        return curve(spec, wl, x, pts).to_json()
    found: dict[int, dict[str, Any]] = {}
    for p in sorted(pts, key=lambda p: (p != current, p)):
        if found and stop_at is not None and time.time() > stop_at:
            break
        found[p] = curve(spec, wl, x, [p]).to_json()
    done = sorted(found)
    first = found[done[0]]
    names: list[str] = []
    for p in done:
        names += [k for k in found[p]["components"] if k not in names]
    doc: dict[str, Any] = {
        "model": first["model"], "mode": first["mode"], "dtype": first["dtype"], "x": x, "points": done,
        "components": names, "series": {n: [found[p]["series"].get(n, [0])[0] for p in done] for n in names},
        "total_bytes": [found[p]["total_bytes"][0] for p in done]}
    if len(done) < len(pts):
        doc["partial"] = True
        doc["note"] = (f"partial: {len(done)} of {len(pts)} points ({x} = {', '.join(f'{p:,}' for p in done)}); the "
                       "rest needs more time than this server gives one request (the memfit command line draws them "
                       "all)")
    return doc
