"""What the endpoints compute, one function each, run in a worker process (``workers.py``): plain functions of the
validated request and the server's settings, returning JSON-ready values. A visitor's config is never built with
transformers here (``builds_refused``): it is counted from its standard fields, labelled approximate, and no
worker imports torch."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..advisor import advise
from ..errors import ConfigError
from ..fit import fit
from ..formats import get_format
from ..hardware import get_device
from ..matrix import fit_matrix
from ..plan import plan
from ..sources.meta_build import builds_refused
from . import results
from .references import resolve_model
from .schemas import AdviseRequest, CurveRequest, EstimateRequest, FitRequest, MatrixRequest, PlanRequest

__all__ = ["advise_doc", "curve_doc", "estimate_doc", "fit_doc", "matrix_doc", "plan_doc", "warm"]

_REFUSED = ("not built by the web server: a visitor's config never imports torch and transformers here; the "
            "memfit command line counts it exactly")


def warm() -> None:
    """Read the data tables a first request would read (catalog, formats, GPUs), before any visitor waits."""
    try:
        with builds_refused(_REFUSED):
            fit(resolve_model("llama-3.1-8b", False, False), "rtx-4090", mode="inference", context=1024)
    except Exception:  # a memfit without that catalog row: the first request reads the tables instead
        return


def estimate_doc(req: EstimateRequest, local: bool, hub: bool) -> dict[str, Any]:
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        wl, implied = req.meant()  # the options mean what they mean on the command line (context: inference)
        doc = dict(results.estimate_json(spec, wl))
        if implied:
            doc["notes"] = [*implied, *doc.get("notes", [])]
        if req.mode == "weights":  # as `memfit estimate --json` does: the weights at each common precision
            doc["weights_by_dtype"] = results.weights_by_dtype(spec)
        return doc


def curve_doc(req: CurveRequest, local: bool, hub: bool, stop_at: float | None = None) -> dict[str, Any]:
    """The curve; no new point is started past ``stop_at`` (a partial answer that says so)."""
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        if req.gpu is None:
            if req.memory is not None:
                raise ConfigError("memory overrides a GPU's capacity: give gpu as well")
            return results.partial_curve(spec, req.meant()[0], req.x, req.points, stop_at)
        device = get_device(req.gpu, memory=req.memory)
        wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
        fit(spec, device, wl)  # the same refusals as /api/fit
        return results.per_gpu_curve(spec, wl, req.x, req.points, device, stop_at)


def fit_doc(req: FitRequest, local: bool, hub: bool) -> dict[str, Any]:
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        # one verdict: what `memfit fit` and memfit.fit say for these options
        wl, implied = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
        r = fit(spec, req.gpu, wl, memory=req.memory, host_memory=req.host_memory)
        doc: dict[str, Any] = (replace(r, notes=(*implied, *r.notes)) if implied else r).to_json()
        return doc


def plan_doc(req: PlanRequest, local: bool, hub: bool) -> dict[str, Any]:
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
        fit(spec, req.gpu, wl, memory=req.memory, host_memory=req.host_memory)  # the refusals of /api/fit
        questions = tuple(req.questions) if req.questions else None
        doc: dict[str, Any] = plan(spec, req.gpu, wl, questions=questions, memory=req.memory,
                                   host_memory=req.host_memory).to_json()
        return doc


def advise_doc(req: AdviseRequest, local: bool, hub: bool) -> dict[str, Any]:
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
        fit(spec, req.gpu, wl, memory=req.memory)  # the same refusals as /api/fit and /api/estimate
        formats = tuple(req.formats) if req.formats else None
        for name in formats or ():
            get_format(name)  # an unknown format: the refusal /api/estimate gives for that dtype
        doc: dict[str, Any] = advise(spec, req.gpu, wl, formats=formats, memory=req.memory).to_json()
        return doc


def matrix_doc(req: MatrixRequest, local: bool, hub: bool) -> dict[str, Any]:
    with builds_refused(_REFUSED):
        spec = resolve_model(req.model, local, hub)
        doc: dict[str, Any] = fit_matrix(spec, req.gpu, context=req.context, runtime=req.runtime, batch=req.batch,
                                         memory=req.memory).to_json()
        return doc
