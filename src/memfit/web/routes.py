"""The endpoints: the page and its assets, then the JSON API (``estimate``, ``curve``, ``fit``, ``plan``,
``advise`` and the catalogs), each a thin call into memfit's Python API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .. import __version__
from ..advisor import advise
from ..errors import ConfigError
from ..fit import fit
from ..formats import get_format
from ..hardware import devices, get_device
from ..options import form_description
from ..plan import plan
from ..plot import MAX_POINTS, curve
from ..sources.meta_build import builds_refused
from . import fits, results
from .budget import DEFAULT_BUDGET_S, WALL_FACTOR, OverBudget, T, run_bounded
from .references import resolve_model
from .schemas import (
    MAX_BATCH,
    MAX_GPUS,
    MAX_TOKENS,
    AdviseRequest,
    CurveRequest,
    EstimateRequest,
    FitRequest,
    FitsRequest,
    PlanRequest,
    WorkloadFields,
)

__all__ = ["HEAVY_AT_ONCE", "Settings", "add_routes"]

HEAVY_AT_ONCE = 2  # plan/advise requests computed at the same time; more wait their turn
_JS = "text/javascript; charset=utf-8"
ASSETS = {"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
          **{f"{m}.js": _JS for m in ("main", "util", "form", "render", "charts", "fit", "whatfits")}}


@dataclass(frozen=True)
class Settings:
    """What the server was started to allow."""

    allow_local_paths: bool = False
    allow_hub: bool = False
    max_body_bytes: int = 1_000_000
    budget_s: float = DEFAULT_BUDGET_S  # the most CPU time one request may compute (see budget.py)


@cache
def _asset(name: str) -> bytes:
    return (resources.files("memfit.web") / "static" / name).read_bytes()


def add_routes(app: FastAPI, settings: Settings) -> None:
    """Every endpoint, in the order the OpenAPI schema lists them."""
    _page_routes(app)
    _catalog_routes(app, settings)
    _compute_routes(app, settings)
    _fits_routes(app, settings)


def _page_routes(app: FastAPI) -> None:
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        return Response(_asset("index.html"), media_type=ASSETS["index.html"])

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in ASSETS:
            return JSONResponse({"error": f"no asset {name[:80]!r}"}, status_code=404)
        return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/index.html", include_in_schema=False)
    def index_alias() -> Response:
        return RedirectResponse("/")


def _catalog_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/api/info", summary="Version, limits and which endpoints this server has")
    def info() -> dict[str, Any]:
        return {"version": __version__, "allow_local_paths": settings.allow_local_paths,
                "allow_hub": settings.allow_hub,
                "features": {"estimate": True, "curve": True, "models": True, "gpus": True, "fit": True,
                             "plan": True, "advise": True, "fits": fits.available() is not None},
                "limits": {"max_body_bytes": settings.max_body_bytes, "max_tokens": MAX_TOKENS,
                           "max_batch": MAX_BATCH, "max_gpus": MAX_GPUS, "max_points": MAX_POINTS},
                "formats": results.format_choices(), "workload_defaults": WorkloadFields().model_dump(),
                "options": form_description()}

    @app.get("/api/models", summary="The bundled model catalog (ids, Hub repos, parameter counts)")
    def models() -> list[dict[str, Any]]:
        return results.models()


def _compute_routes(app: FastAPI, settings: Settings) -> None:
    local, hub, budget = settings.allow_local_paths, settings.allow_hub, settings.budget_s
    # plan and advise run many estimates: at most HEAVY_AT_ONCE at a time, so that they never take every worker
    # thread from the quick endpoints; every computation runs off the event loop under the time budget
    heavy = asyncio.Semaphore(HEAVY_AT_ONCE)

    async def bounded(what: str, fn: Callable[..., T], *args: Any, is_heavy: bool = False) -> T:
        deadline = time.monotonic() + WALL_FACTOR * budget
        fn = _for_a_visitor(fn)
        if not is_heavy:
            return await run_bounded(fn, *args, deadline=deadline, budget_s=budget, what=what)
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                await heavy.acquire()
        except TimeoutError:
            raise OverBudget(what, budget) from None
        try:
            return await run_bounded(fn, *args, deadline=deadline, budget_s=budget, what=what)
        finally:
            heavy.release()

    @app.post("/api/estimate", summary="memfit.estimate(model, **workload).to_json()")
    async def estimate_endpoint(req: EstimateRequest) -> JSONResponse:
        return JSONResponse(await bounded("this estimate", _estimate, req, local, hub))

    @app.post("/api/curve", summary="Memory at each context length or batch size (stacked components)")
    async def curve_endpoint(req: CurveRequest) -> dict[str, Any]:
        return await bounded("this curve", _curve, req, local, hub)

    @app.get("/api/gpus", summary="The hardware catalog: memory, bandwidth and native dtypes, with sources")
    def gpus() -> list[dict[str, Any]]:
        return [d.to_json() for d in devices()]

    @app.post("/api/fit", summary="memfit.fit(model, gpu, **workload).to_json(): per GPU, headroom, blame")
    async def fit_endpoint(req: FitRequest) -> dict[str, Any]:
        return await bounded("this fit", _fit, req, local, hub)

    @app.post("/api/plan", summary="memfit.plan(model, gpu, **workload).to_json(): the inverse questions")
    async def plan_endpoint(req: PlanRequest) -> JSONResponse:
        return JSONResponse(await bounded("this plan", _plan, req, local, hub, is_heavy=True))

    @app.post("/api/advise", summary="memfit.advise(model, gpu, **workload).to_json(): formats that fit, ranked")
    async def advise_endpoint(req: AdviseRequest) -> JSONResponse:
        return JSONResponse(await bounded("this advice", _advise, req, local, hub, is_heavy=True))


def _fits_routes(app: FastAPI, settings: Settings) -> None:
    compute = fits.available()
    if compute is None:  # this memfit has no memfit.whatfits: no such endpoint
        return
    jobs = fits.FitsJobs(compute)

    @app.post("/api/fits", summary="What runs on this GPU: every catalog model, its best format and longest "
                                   "context (202 while the list is computed; ask again)")
    async def fits_endpoint(req: FitsRequest) -> JSONResponse:
        deadline = time.monotonic() + WALL_FACTOR * settings.budget_s
        status, doc = await run_bounded(jobs.ask, req.gpu, req.runtime, req.context, req.memory,
                                        deadline=deadline, budget_s=settings.budget_s, what="this list")
        return JSONResponse(doc, status_code=status)


# the computations, each run in a worker thread under the budget


def _for_a_visitor(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` with transformers' meta-device builds refused: a pasted config of an architecture memfit has no
    builder for is counted from its standard fields (labelled approximate), never by importing torch."""

    def run(*args: Any) -> T:
        with builds_refused("not built by the web server: a visitor's config never imports torch and transformers "
                            "here; the memfit command line counts it exactly"):
            return fn(*args)

    return run


def _estimate(req: EstimateRequest, local: bool, hub: bool) -> dict[str, Any]:
    spec = resolve_model(req.model, local, hub)
    wl, implied = req.meant()  # the options mean what they mean on the command line (context implies inference)
    doc = dict(results.estimate_json(spec, wl))
    if implied:
        doc["notes"] = [*implied, *doc.get("notes", [])]
    if req.mode == "weights":  # as `memfit estimate --json` does: the weights at each common precision
        doc["weights_by_dtype"] = results.weights_by_dtype(spec)
    return doc


def _curve(req: CurveRequest, local: bool, hub: bool) -> dict[str, Any]:
    spec = resolve_model(req.model, local, hub)
    if req.gpu is None:
        if req.memory is not None:
            raise ConfigError("memory overrides a GPU's capacity: give gpu as well")
        return curve(spec, req.meant()[0], req.x, req.points).to_json()
    device = get_device(req.gpu, memory=req.memory)
    wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
    fit(spec, device, wl)  # the same refusals as /api/fit
    return results.per_gpu_curve(spec, wl, req.x, req.points, device)


def _fit(req: FitRequest, local: bool, hub: bool) -> dict[str, Any]:
    spec = resolve_model(req.model, local, hub)
    # one verdict: what `memfit fit` and memfit.fit say for these options
    wl, implied = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
    r = fit(spec, req.gpu, wl, memory=req.memory)
    doc: dict[str, Any] = (replace(r, notes=(*implied, *r.notes)) if implied else r).to_json()
    return doc


def _plan(req: PlanRequest, local: bool, hub: bool) -> dict[str, Any]:
    spec = resolve_model(req.model, local, hub)
    wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
    fit(spec, req.gpu, wl, memory=req.memory)  # the same refusals as /api/fit and /api/estimate (kv_dtype, dtype …)
    questions = tuple(req.questions) if req.questions else None
    return plan(spec, req.gpu, wl, questions=questions, memory=req.memory).to_json()


def _advise(req: AdviseRequest, local: bool, hub: bool) -> dict[str, Any]:
    spec = resolve_model(req.model, local, hub)
    wl, _ = req.meant(judge=True, gpu=req.gpu, memory=req.memory)
    fit(spec, req.gpu, wl, memory=req.memory)  # the same refusals as /api/fit and /api/estimate
    formats = tuple(req.formats) if req.formats else None
    for name in formats or ():
        get_format(name)  # an unknown format: the refusal /api/estimate gives for that dtype
    return advise(spec, req.gpu, wl, formats=formats, memory=req.memory).to_json()
