"""The web calculator: a FastAPI app whose JSON API mirrors the Python API, and the page that uses it.

``create_app()`` builds the app; ``memfit serve`` runs it on uvicorn (127.0.0.1 unless told otherwise).

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
``POST /api/curve``, ``GET /api/gpus``, ``POST /api/fit``, ``POST /api/plan``, ``POST /api/advise`` and
``GET /openapi.json`` (no /docs: Swagger UI would load a CDN).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..advisor import advise
from ..errors import MemfitError, UnknownModelError
from ..estimate import estimate
from ..fit import fit
from ..hardware import devices
from ..memory.weights import weights_bytes
from ..plan import plan
from ..plot import MAX_POINTS, curve
from ..sources.catalog import catalog_rows, find_entry, suggest
from ..sources.hf_config import spec_from_config
from ..sources.loader import load_model
from ..spec import ModelSpec
from ..units import MAX_PARAMETERS
from ..workload import Workload

__all__ = ["MAX_BODY_BYTES", "AdviseRequest", "BackgroundServer", "CurveRequest", "EstimateRequest", "FitRequest",
           "PlanRequest", "create_app", "resolve_model"]

MAX_BODY_BYTES = 1_000_000
MAX_TOKENS = 10_000_000
MAX_BATCH = 1_000_000
MAX_GPUS = 100_000
HEAVY_AT_ONCE = 2  # plan/advise requests computed at the same time; more wait their turn
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"  # a dtype, optimizer or module name
_COUNT_LIKE = re.compile(r"^\s*[0-9][0-9_,.]*(e[+-]?[0-9]+)?\s*[kmbgt]?\s*$", re.IGNORECASE)  # 7B, 1.5b, 70e9
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*(@[A-Za-z0-9_.\-/]+)?$")
_PATH_LIKE = re.compile(r"^(/|\\|~|\.{1,2}[/\\]|[A-Za-z]:[/\\])|[\\]|\.(json|gguf|safetensors|bin|pt|pth)$",
                        re.IGNORECASE)
_ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
           "style.css": "text/css; charset=utf-8"}
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

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

    def workload(self) -> Workload:
        """The ``Workload`` these fields describe (validated)."""
        kw = self.model_dump(exclude={"model", "x", "points", "gpu", "memory", "questions", "formats"})
        targets = kw.pop("lora_targets")
        if targets is not None:
            kw["lora_targets"] = tuple(targets)
        names = _workload_names()
        kw = {k: v for k, v in kw.items() if k in names}
        return Workload(**kw).validate()


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


class _Guard:
    """ASGI middleware, outermost: the ``Host`` check, the body cap (413, by Content-Length and by the bytes
    that arrive) and the security headers on every response."""

    def __init__(self, app: Any, max_bytes: int, allowed_hosts: Sequence[str] | None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.hosts = None if allowed_hosts is None else {h.strip("[]").lower() for h in allowed_hosts}

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.hosts is not None:
            host = headers.get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name.strip("[]").lower() not in self.hosts:
                await _send_json(send, 421, {"error": f"Host {host[:100]!r} is not served here; open the address "
                                                      "that 'memfit serve' printed"})
                return

        started = time.perf_counter()

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"server-timing", f"app;dur={took:.3f}".encode())]
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in message.get("headers", [])):
                    extra.append((b"content-security-policy", _CSP.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send_with_headers)
            return
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "the Content-Length header is not a number"})
                return
            if size > self.max_bytes:
                await _send_json(send, 413, _too_large(self.max_bytes, size))
                return
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await _send_json(send, 413, _too_large(self.max_bytes, None))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send_with_headers)


def _too_large(limit: int, size: int | None) -> dict[str, Any]:
    got = f" ({size:,} bytes declared)" if size is not None else ""
    return {"error": f"request body too large{got}: the limit is {limit:,} bytes; a config.json is far smaller"}


async def _send_json(send: Callable[[Any], Awaitable[None]], status: int, doc: dict[str, Any]) -> None:
    body = json.dumps(doc).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"x-content-type-options", b"nosniff"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _describe_validation(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":
            pos = e.get("loc", ("body", "?"))[-1]
            reason = (e.get("ctx") or {}).get("error", "")
            out.append({"field": "body", "type": "json_invalid",
                        "message": f"the body is not valid JSON ({reason} at character {pos})"})
            continue
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        item: dict[str, Any] = {"field": ".".join(loc) or "body", "message": str(e.get("msg", "invalid")),
                                "type": str(e.get("type", ""))}
        value = e.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            item["value"] = str(value)
        elif isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 80):
            item["value"] = value
        out.append(item)
    return out


def resolve_model(ref: str | int | dict[str, Any], allow_local_paths: bool = False,
                  allow_hub: bool = False) -> ModelSpec:
    """A web visitor's model reference → ``ModelSpec``, never touching the disk or the network unless allowed.

    Catalog ids, Hub repo ids that the catalog knows, and parameter counts always work; a pasted
    config.json object is parsed in memory. Anything else is a local path (``allow_local_paths``) or a
    Hub repo id (``allow_hub``) and is refused with a 400 unless the server was started to allow it.
    """
    if isinstance(ref, dict):
        try:
            return spec_from_config(ref)
        except MemfitError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError, RecursionError) as e:
            raise MemfitError(f"the pasted config.json could not be read ({type(e).__name__}: {e}); "
                              "paste the config.json of a Hugging Face model, unchanged") from None
    if isinstance(ref, int):
        return load_model(ref)
    text = ref.strip()
    if not text or len(text) > 200:
        raise MemfitError("the model is empty or longer than 200 characters: give a catalog id, a parameter "
                          "count such as 7B, or paste a config.json")
    if _COUNT_LIKE.match(text) or find_entry(text) is not None:
        return _load_bundled(text)
    if _PATH_LIKE.search(text):
        if allow_local_paths:
            return load_model(text)
        raise MemfitError(f"{text!r} looks like a file path; this server does not read local files for "
                          "visitors (start it with 'memfit serve --allow-local-paths' to allow that), "
                          "or paste the config.json instead")
    if _HUB_ID.match(text):
        if allow_hub and allow_local_paths:
            return load_model(text)
        if allow_hub:  # straight to the Hub reader: load_model would look for a local folder of that name first
            from ..sources.hub import is_repo_id, load_hub

            if is_repo_id(text):
                return load_hub(text)
        raise MemfitError(f"{text!r} looks like a Hugging Face repo id; this server does not fetch from the Hub "
                          "for visitors (start it with 'memfit serve --allow-hub' to allow that), or paste "
                          "its config.json instead")
    if allow_local_paths:  # a bare folder name such as "my-model"
        return load_model(text)
    hint = suggest(text)
    raise UnknownModelError(
        f"{text!r} is not a catalog id or a parameter count"
        + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ".")
        + " See the model list (GET /api/models), write a count such as 7B, or paste a config.json."
    )


@lru_cache(maxsize=1024)
def _load_bundled(text: str) -> ModelSpec:
    """A catalog model or a parameter count: nothing on disk but the package's own data, so it is remembered."""
    return load_model(text)


@cache
def _models() -> list[dict[str, Any]]:
    return [dict(r) for r in catalog_rows()]


_CHART_FORMATS = ("float32", "bfloat16", "float16", "fp8", "int8", "int4", "nf4", "gptq", "awq", "mxfp4", "nvfp4",
                  "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q2_k", "iq2_xxs")


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


def _weights_by_dtype(spec: ModelSpec) -> dict[str, int]:
    try:
        return dict(_weights_by_dtype_cached(spec))
    except TypeError:  # a spec holding something unhashable
        return {name: weights_bytes(spec, name) for name in _format_names()}


@lru_cache(maxsize=256)
def _weights_by_dtype_cached(spec: ModelSpec) -> tuple[tuple[str, int], ...]:
    return tuple((name, weights_bytes(spec, name)) for name in _format_names())


def _estimate_json(spec: ModelSpec, wl: Workload) -> dict[str, Any]:
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
def _format_choices() -> list[dict[str, str]]:
    """Every named format (not the ``-pure`` GGUF variants), for the page's precision field."""
    try:
        from ..formats import list_formats
    except ImportError:
        return [{"name": n, "label": n} for n in _format_names()]
    return [{"name": f.name, "label": f.label} for f in list_formats() if not f.name.endswith("-pure")]


@cache
def _asset(name: str) -> bytes:
    return (resources.files("memfit.web") / "static" / name).read_bytes()


def create_app(allow_local_paths: bool = False, allow_hub: bool = False,
               allowed_hosts: Sequence[str] | None = None, max_body_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """The web app. ``allowed_hosts``: accepted ``Host`` header names (None: any, for tests and proxies)."""
    app = FastAPI(title="memfit", version=__version__, docs_url=None, redoc_url=None,  # those load a CDN
                  description="How much memory does this model need, and will it fit? The JSON API mirrors "
                              "memfit's Python API: POST /api/estimate takes a model and Workload fields and "
                              "answers Estimate.to_json().")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _describe_validation(exc.errors())
        first = details[0] if details else {"field": "body", "message": "invalid request"}
        summary = f"{first['field']}: {first['message']}"
        if "value" in first:
            summary += f" (got {first['value']!r})"
        if len(details) > 1:
            summary += f"; and {len(details) - 1} more problem(s)"
        return JSONResponse({"error": f"invalid request: {summary}", "detail": details}, status_code=422)

    @app.exception_handler(MemfitError)
    async def _memfit_error(request: Request, exc: MemfitError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if message == "There was an error parsing the body":
            message = "the request body is not valid JSON (or is nested too deeply)"
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RecursionError):
            return JSONResponse({"error": "the request is nested too deeply"}, status_code=400)
        if isinstance(exc, ImportError):  # an optional part of memfit (or a dependency) that is not installed
            return JSONResponse({"error": f"this request needs a part of memfit that is not installed here "
                                          f"({exc.name or 'a module'})"}, status_code=501)
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the request was not processed"},
                            status_code=500)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        return Response(_asset("index.html"), media_type=_ASSETS["index.html"])

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in _ASSETS:
            return JSONResponse({"error": f"no asset {name[:80]!r}"}, status_code=404)
        return Response(_asset(name), media_type=_ASSETS[name], headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/index.html", include_in_schema=False)
    def index_alias() -> Response:
        return RedirectResponse("/")

    @app.get("/api/info", summary="Version, limits and which endpoints this server has")
    def info() -> dict[str, Any]:
        return {"version": __version__, "allow_local_paths": allow_local_paths, "allow_hub": allow_hub,
                "features": {"estimate": True, "curve": True, "models": True, "gpus": True, "fit": True,
                             "plan": True, "advise": True},
                "limits": {"max_body_bytes": max_body_bytes, "max_tokens": MAX_TOKENS, "max_batch": MAX_BATCH,
                           "max_gpus": MAX_GPUS, "max_points": MAX_POINTS},
                "formats": _format_choices(), "workload_defaults": WorkloadFields().model_dump()}

    @app.get("/api/models", summary="The bundled model catalog (ids, Hub repos, parameter counts)")
    def models() -> list[dict[str, Any]]:
        return _models()

    @app.post("/api/estimate", summary="memfit.estimate(model, **workload).to_json()")
    async def estimate_endpoint(req: EstimateRequest) -> JSONResponse:
        # async: an estimate takes milliseconds, so it runs on the event loop without a thread hop
        spec = resolve_model(req.model, allow_local_paths, allow_hub)
        doc = dict(_estimate_json(spec, req.workload()))
        if req.mode == "weights":  # as `memfit estimate --json` does: the weights at each common precision
            doc["weights_by_dtype"] = _weights_by_dtype(spec)
        return JSONResponse(doc)

    @app.post("/api/curve", summary="Memory at each context length or batch size (stacked components)")
    def curve_endpoint(req: CurveRequest) -> dict[str, Any]:
        spec = resolve_model(req.model, allow_local_paths, allow_hub)
        return curve(spec, req.workload(), req.x, req.points).to_json()

    @app.get("/api/gpus", summary="The hardware catalog: memory, bandwidth and native dtypes, with sources")
    def gpus() -> list[dict[str, Any]]:
        return [d.to_json() for d in devices()]

    @app.post("/api/fit", summary="memfit.fit(model, gpu, **workload).to_json(): per GPU, headroom, blame")
    def fit_endpoint(req: FitRequest) -> dict[str, Any]:
        spec = resolve_model(req.model, allow_local_paths, allow_hub)
        doc: dict[str, Any] = fit(spec, req.gpu, req.workload(), memory=req.memory).to_json()
        return doc

    # plan and advise run many estimates (up to seconds): at most HEAVY_AT_ONCE at a time, in worker threads,
    # so that they never take every thread from the quick endpoints
    heavy = asyncio.Semaphore(HEAVY_AT_ONCE)

    @app.post("/api/plan", summary="memfit.plan(model, gpu, **workload).to_json(): the inverse questions")
    async def plan_endpoint(req: PlanRequest) -> JSONResponse:
        spec = resolve_model(req.model, allow_local_paths, allow_hub)
        questions = tuple(req.questions) if req.questions else None
        wl = req.workload()
        async with heavy:
            result = await run_in_threadpool(plan, spec, req.gpu, wl, questions=questions, memory=req.memory)
        return JSONResponse(result.to_json())

    @app.post("/api/advise", summary="memfit.advise(model, gpu, **workload).to_json(): formats that fit, ranked")
    async def advise_endpoint(req: AdviseRequest) -> JSONResponse:
        spec = resolve_model(req.model, allow_local_paths, allow_hub)
        formats = tuple(req.formats) if req.formats else None
        wl = req.workload()
        async with heavy:
            result = await run_in_threadpool(advise, spec, req.gpu, wl, formats=formats, memory=req.memory)
        return JSONResponse(result.to_json())

    app.add_middleware(_Guard, max_bytes=max_body_bytes, allowed_hosts=allowed_hosts)  # outermost
    return app


class BackgroundServer:
    """Run an app on uvicorn in a background thread (tests, benchmarks): ``with BackgroundServer(app) as url:``.

    ``port=0`` picks a free port; the URL (``http://127.0.0.1:PORT``) is known once the server listens.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 20.0) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                                     access_log=False, server_header=False))
        self._host = host
        self._timeout = timeout
        self._thread: threading.Thread | None = None
        self.url = ""

    def __enter__(self) -> str:
        self._thread = threading.Thread(target=self._server.run, name="memfit-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self._timeout)
