"""The endpoints: the page and its assets, then the JSON API (``estimate``, ``curve``, ``fit``, ``plan``,
``advise`` and the catalogs), each a thin call into memfit's Python API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .. import __version__
from ..hardware import devices
from ..options import RUNTIMES, form_description
from ..plot import MAX_POINTS
from . import compute, fits, results
from .schemas import (
    MAX_BATCH,
    MAX_GPUS,
    MAX_TOKENS,
    AdviseRequest,
    CurveRequest,
    EstimateRequest,
    FitRequest,
    FitsRequest,
    MatrixRequest,
    PlanRequest,
    WorkloadFields,
)
from .workers import DEFAULT_BUDGET_S, DEFAULT_WORKERS, OverBudget, T, WorkerPool

__all__ = ["HEAVY_AT_ONCE", "PARTIAL_AT", "RUNTIME_LABELS", "Settings", "add_routes", "runtimes"]

PARTIAL_AT = 0.6  # share of the budget after which a curve starts no new point (it answers with those done)
HEAVY_AT_ONCE = 1  # plan/advise requests computed at the same time (of DEFAULT_WORKERS); more wait their turn
_JS = "text/javascript; charset=utf-8"
ASSETS = {"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
          **{f"{m}.js": _JS for m in ("main", "util", "form", "render", "charts", "fit", "whatfits", "matrix")}}


# how the page names each runtime; a runtime memfit learns later shows under its own name until it gets one here
RUNTIME_LABELS = {"transformers": "transformers (PyTorch)", "vllm": "vLLM", "sglang": "SGLang",
                  "llamacpp": "llama.cpp", "ollama": "Ollama"}


def runtimes() -> list[dict[str, str]]:
    """Every runtime memfit estimates (``options.RUNTIMES``, in its order), with the page's name for it."""
    return [{"name": r, "label": RUNTIME_LABELS.get(r, r)} for r in RUNTIMES]


@dataclass(frozen=True)
class Settings:
    """What the server was started to allow."""

    allow_local_paths: bool = False
    allow_hub: bool = False
    max_body_bytes: int = 1_000_000
    budget_s: float = DEFAULT_BUDGET_S  # the most wall time one request may take, its wait included (workers.py)
    workers: int = DEFAULT_WORKERS  # worker processes computing (0: a thread of the server, nothing to kill)


@cache
def _asset(name: str) -> bytes:
    return (resources.files("memfit.web") / "static" / name).read_bytes()


def add_routes(app: FastAPI, settings: Settings, pool: WorkerPool) -> None:
    """Every endpoint, in the order the OpenAPI schema lists them."""
    _page_routes(app)
    _catalog_routes(app, settings)
    _compute_routes(app, settings, pool)
    _fits_routes(app, settings)


def _page_routes(app: FastAPI) -> None:
    # async: the page never waits for a thread, whatever the computations do
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> Response:
        return Response(_asset("index.html"), media_type=ASSETS["index.html"])

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
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
                             "plan": True, "advise": True, "matrix": True, "fits": fits.available() is not None},
                "limits": {"max_body_bytes": settings.max_body_bytes, "max_tokens": MAX_TOKENS,
                           "max_batch": MAX_BATCH, "max_gpus": MAX_GPUS, "max_points": MAX_POINTS},
                "formats": results.format_choices(), "runtimes": runtimes(),
                "workload_defaults": WorkloadFields().model_dump(),
                "options": form_description()}

    @app.get("/api/models", summary="The bundled model catalog (ids, Hub repos, parameter counts)")
    def models() -> list[dict[str, Any]]:
        return results.models()


def _compute_routes(app: FastAPI, settings: Settings, pool: WorkerPool) -> None:
    local, hub, budget = settings.allow_local_paths, settings.allow_hub, settings.budget_s
    # plan and advise run many estimates: at most HEAVY_AT_ONCE at a time, so that they never take every worker
    # from the quick endpoints; every computation runs in a worker process under the deadline
    heavy = asyncio.Semaphore(max(1, min(HEAVY_AT_ONCE, settings.workers - 1)))

    async def bounded(what: str, fn: Callable[..., T], *args: Any, is_heavy: bool = False) -> T:
        deadline = time.monotonic() + budget
        if not is_heavy:
            return await pool.run(fn, *args, deadline=deadline, budget_s=budget, what=what)
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                await heavy.acquire()
        except TimeoutError:
            raise OverBudget(what, budget) from None
        try:
            return await pool.run(fn, *args, deadline=deadline, budget_s=budget, what=what)
        finally:
            heavy.release()

    @app.post("/api/estimate", summary="memfit.estimate(model, **workload).to_json()")
    async def estimate_endpoint(req: EstimateRequest) -> JSONResponse:
        return JSONResponse(await bounded("this estimate", compute.estimate_doc, req, local, hub))

    @app.post("/api/curve", summary="Memory at each context length or batch size (stacked components)")
    async def curve_endpoint(req: CurveRequest) -> dict[str, Any]:
        # points are computed until PARTIAL_AT of the budget has passed, then the curve comes back partial
        return await bounded("this curve", compute.curve_doc, req, local, hub, time.time() + PARTIAL_AT * budget)

    @app.get("/api/gpus", summary="The hardware catalog: memory, bandwidth and native dtypes, with sources")
    def gpus() -> list[dict[str, Any]]:
        return [d.to_json() for d in devices()]

    @app.post("/api/fit", summary="memfit.fit(model, gpu, **workload).to_json(): per GPU, headroom, blame")
    async def fit_endpoint(req: FitRequest) -> dict[str, Any]:
        return await bounded("this fit", compute.fit_doc, req, local, hub)

    @app.post("/api/plan", summary="memfit.plan(model, gpu, **workload).to_json(): the inverse questions")
    async def plan_endpoint(req: PlanRequest) -> JSONResponse:
        return JSONResponse(await bounded("this plan", compute.plan_doc, req, local, hub, is_heavy=True))

    @app.post("/api/advise", summary="memfit.advise(model, gpu, **workload).to_json(): formats that fit, ranked")
    async def advise_endpoint(req: AdviseRequest) -> JSONResponse:
        return JSONResponse(await bounded("this advice", compute.advise_doc, req, local, hub, is_heavy=True))

    @app.post("/api/matrix", summary="memfit.fit_matrix(model, gpu, ...).to_json(): precisions × workloads "
                                     "(inference, LoRA, QLoRA, full fine-tune), a verdict per cell")
    async def matrix_endpoint(req: MatrixRequest) -> JSONResponse:
        return JSONResponse(await bounded("this matrix", compute.matrix_doc, req, local, hub, is_heavy=True))


def _fits_routes(app: FastAPI, settings: Settings) -> None:
    compute = fits.available()
    if compute is None:  # this memfit has no memfit.whatfits: no such endpoint
        return
    jobs = fits.FitsJobs(compute)

    @app.post("/api/fits", summary="What runs on this GPU: every catalog model, its best format and longest "
                                   "context (202 while the list is computed; ask again)")
    def fits_endpoint(req: FitsRequest) -> JSONResponse:  # answers at once: the list itself is a job (fits.py)
        status, doc = jobs.ask(req.gpu, req.runtime, req.context, req.memory)
        return JSONResponse(doc, status_code=status)
