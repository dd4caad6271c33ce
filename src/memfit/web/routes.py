"""The endpoints: the page and its assets, then the JSON API (``estimate``, ``curve``, ``fit``, ``plan``,
``advise`` and the catalogs), each a thin call into memfit's Python API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..advisor import advise
from ..fit import fit
from ..hardware import devices
from ..plan import plan
from ..plot import MAX_POINTS, curve
from . import results
from .references import resolve_model
from .schemas import (
    MAX_BATCH,
    MAX_GPUS,
    MAX_TOKENS,
    AdviseRequest,
    CurveRequest,
    EstimateRequest,
    FitRequest,
    PlanRequest,
    WorkloadFields,
)

__all__ = ["HEAVY_AT_ONCE", "Settings", "add_routes"]

HEAVY_AT_ONCE = 2  # plan/advise requests computed at the same time; more wait their turn
_JS = "text/javascript; charset=utf-8"
ASSETS = {"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
          **{f"{m}.js": _JS for m in ("main", "util", "form", "render", "charts", "fit")}}


@dataclass(frozen=True)
class Settings:
    """What the server was started to allow."""

    allow_local_paths: bool = False
    allow_hub: bool = False
    max_body_bytes: int = 1_000_000


@cache
def _asset(name: str) -> bytes:
    return (resources.files("memfit.web") / "static" / name).read_bytes()


def add_routes(app: FastAPI, settings: Settings) -> None:
    """Every endpoint, in the order the OpenAPI schema lists them."""
    _page_routes(app)
    _catalog_routes(app, settings)
    _compute_routes(app, settings)


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
                             "plan": True, "advise": True},
                "limits": {"max_body_bytes": settings.max_body_bytes, "max_tokens": MAX_TOKENS,
                           "max_batch": MAX_BATCH, "max_gpus": MAX_GPUS, "max_points": MAX_POINTS},
                "formats": results.format_choices(), "workload_defaults": WorkloadFields().model_dump()}

    @app.get("/api/models", summary="The bundled model catalog (ids, Hub repos, parameter counts)")
    def models() -> list[dict[str, Any]]:
        return results.models()


def _compute_routes(app: FastAPI, settings: Settings) -> None:
    local, hub = settings.allow_local_paths, settings.allow_hub

    @app.post("/api/estimate", summary="memfit.estimate(model, **workload).to_json()")
    async def estimate_endpoint(req: EstimateRequest) -> JSONResponse:
        # async: an estimate takes milliseconds, so it runs on the event loop without a thread hop
        spec = resolve_model(req.model, local, hub)
        doc = dict(results.estimate_json(spec, req.workload()))
        if req.mode == "weights":  # as `memfit estimate --json` does: the weights at each common precision
            doc["weights_by_dtype"] = results.weights_by_dtype(spec)
        return JSONResponse(doc)

    @app.post("/api/curve", summary="Memory at each context length or batch size (stacked components)")
    def curve_endpoint(req: CurveRequest) -> dict[str, Any]:
        spec = resolve_model(req.model, local, hub)
        return curve(spec, req.workload(), req.x, req.points).to_json()

    @app.get("/api/gpus", summary="The hardware catalog: memory, bandwidth and native dtypes, with sources")
    def gpus() -> list[dict[str, Any]]:
        return [d.to_json() for d in devices()]

    @app.post("/api/fit", summary="memfit.fit(model, gpu, **workload).to_json(): per GPU, headroom, blame")
    def fit_endpoint(req: FitRequest) -> dict[str, Any]:
        spec = resolve_model(req.model, local, hub)
        doc: dict[str, Any] = fit(spec, req.gpu, req.workload(), memory=req.memory).to_json()
        return doc

    # plan and advise run many estimates (up to seconds): at most HEAVY_AT_ONCE at a time, in worker threads,
    # so that they never take every thread from the quick endpoints
    heavy = asyncio.Semaphore(HEAVY_AT_ONCE)

    @app.post("/api/plan", summary="memfit.plan(model, gpu, **workload).to_json(): the inverse questions")
    async def plan_endpoint(req: PlanRequest) -> JSONResponse:
        spec = resolve_model(req.model, local, hub)
        questions = tuple(req.questions) if req.questions else None
        wl = req.workload()
        async with heavy:
            result = await run_in_threadpool(plan, spec, req.gpu, wl, questions=questions, memory=req.memory)
        return JSONResponse(result.to_json())

    @app.post("/api/advise", summary="memfit.advise(model, gpu, **workload).to_json(): formats that fit, ranked")
    async def advise_endpoint(req: AdviseRequest) -> JSONResponse:
        spec = resolve_model(req.model, local, hub)
        formats = tuple(req.formats) if req.formats else None
        wl = req.workload()
        async with heavy:
            result = await run_in_threadpool(advise, spec, req.gpu, wl, formats=formats, memory=req.memory)
        return JSONResponse(result.to_json())
