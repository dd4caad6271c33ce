"""The web calculator: a FastAPI app whose JSON API mirrors the Python API, and the page that uses it.

``create_app()`` builds the app; ``memfit serve`` runs it on uvicorn (127.0.0.1 unless told otherwise). The
parts, one job each: ``schemas`` (the request models), ``guard`` (Host check, body cap, headers),
``references`` (what a visitor may name as a model), ``results`` (remembered computations), ``compute`` (what each
endpoint computes), ``workers`` (every computation in a worker process, under a wall-clock deadline: a stuck one
is killed and replaced), ``routes`` (the endpoints) and ``handlers`` (errors as JSON).

Safety, by construction:

* every request body is a pydantic model with ``extra="forbid"``, strict types and ranges → 422 with
  the field, the rule and the value; memfit's own errors → 400 with their message; anything unexpected
  → a JSON error without a traceback;
* bodies are capped (``MAX_BODY_BYTES``), on ``Content-Length`` and on the bytes actually received;
* a model string is a catalog id or a parameter count; a path is read only with ``allow_local_paths``
  and a Hub repo id is resolved only with ``allow_hub`` (otherwise a clear 400);
* the ``Host`` header is checked when ``allowed_hosts`` is given (``memfit serve`` passes the loopback
  names when it binds to loopback), which stops DNS-rebinding pages from talking to it.

Endpoints: ``GET /`` (the page), ``GET /api/info``, ``GET /api/models``, ``POST /api/estimate``,
``POST /api/curve``, ``GET /api/gpus``, ``POST /api/fit``, ``POST /api/plan``, ``POST /api/advise``,
``POST /api/matrix``, ``POST /api/fits`` and
``GET /openapi.json`` (no /docs: Swagger UI would load a CDN).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .. import __version__
from .guard import Guard
from .handlers import add_handlers
from .references import resolve_model
from .routes import Settings, add_routes
from .schemas import AdviseRequest, CurveRequest, EstimateRequest, FitRequest, PlanRequest, WorkloadFields
from .workers import DEFAULT_BUDGET_S, DEFAULT_WORKERS, WorkerPool

__all__ = ["MAX_BODY_BYTES", "AdviseRequest", "CurveRequest", "EstimateRequest", "FitRequest", "PlanRequest",
           "WorkloadFields", "create_app", "resolve_model"]

MAX_BODY_BYTES = 1_000_000


def create_app(allow_local_paths: bool = False, allow_hub: bool = False,
               allowed_hosts: Sequence[str] | None = None, max_body_bytes: int = MAX_BODY_BYTES,
               budget_s: float = DEFAULT_BUDGET_S, workers: int = DEFAULT_WORKERS) -> FastAPI:
    """The web app. ``allowed_hosts``: accepted ``Host`` header names (None: any, for tests and proxies);
    ``budget_s``: the most wall time one request may take, its wait for a worker included (then a 422 says so);
    ``workers``: the worker processes that compute (0: a thread of the server, for tests that patch memfit)."""
    pool = WorkerPool(workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open()
        await pool.start()
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="memfit", version=__version__, docs_url=None, redoc_url=None,  # those load a CDN
                  lifespan=lifespan,
                  description="How much memory does this model need, and will it fit? The JSON API mirrors "
                              "memfit's Python API: POST /api/estimate takes a model and Workload fields and "
                              "answers Estimate.to_json().")
    add_handlers(app)
    add_routes(app, Settings(allow_local_paths, allow_hub, max_body_bytes, budget_s, workers), pool)
    app.state.pool = pool
    app.add_middleware(Guard, max_bytes=max_body_bytes, allowed_hosts=allowed_hosts)  # outermost
    return app
