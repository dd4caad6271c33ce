"""How errors become answers: a 422 naming the field, the rule and the value; memfit's own errors as 400 with
their message; anything unexpected as a JSON error without a traceback."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import MemfitError
from .workers import OverBudget

__all__ = ["add_handlers", "describe_validation"]


def _safe(text: str) -> str:
    """``text`` with any lone UTF-16 surrogate from the visitor's input escaped (it cannot be encoded)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text(exc: Exception) -> str:
    return _safe(str(exc))


def describe_validation(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors → ``{"field", "message", "type", "value"?}`` rows (short values only)."""
    out = []
    for e in errors:
        if e.get("type") == "json_invalid":
            pos = e.get("loc", ("body", "?"))[-1]
            reason = (e.get("ctx") or {}).get("error", "")
            out.append({"field": "body", "type": "json_invalid",
                        "message": f"the body is not valid JSON ({reason} at character {pos})"})
            continue
        loc = [_safe(str(p)) for p in e.get("loc", ()) if p != "body"]
        item: dict[str, Any] = {"field": ".".join(loc) or "body", "message": _safe(str(e.get("msg", "invalid"))),
                                "type": str(e.get("type", ""))}
        value = e.get("input")
        if isinstance(value, float) and not math.isfinite(value):
            item["value"] = str(value)
        elif isinstance(value, int | float | bool) or (isinstance(value, str) and len(value) <= 80):
            item["value"] = _safe(value) if isinstance(value, str) else value
        out.append(item)
    return out


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = describe_validation(exc.errors())
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    summary = f"{first['field']}: {first['message']}"
    if "value" in first:
        summary += f" (got {first['value']!r})"
    if len(details) > 1:
        summary += f"; and {len(details) - 1} more problem(s)"
    return JSONResponse({"error": f"invalid request: {summary}", "detail": details}, status_code=422)


async def _memfit_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": _text(exc)}, status_code=400)


async def _over_budget(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OverBudget)
    return JSONResponse({"error": str(exc), "budget_s": exc.budget_s}, status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = _text(Exception(exc.detail)) if isinstance(exc.detail, str) else "request refused"
    if message == "There was an error parsing the body":
        message = "the request body is not valid JSON (or is nested too deeply)"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, UnicodeError):  # a lone surrogate that reached an encoder: the input, not the server
        return JSONResponse({"error": "the request holds text that is not valid Unicode (a lone UTF-16 "
                                      "surrogate); send UTF-8 text"}, status_code=400)
    if isinstance(exc, RecursionError):
        return JSONResponse({"error": "the request is nested too deeply"}, status_code=400)
    if isinstance(exc, ImportError):  # an optional part of memfit (or a dependency) that is not installed
        return JSONResponse({"error": f"this request needs a part of memfit that is not installed here "
                                      f"({exc.name or 'a module'})"}, status_code=501)
    return JSONResponse({"error": f"internal error ({type(exc).__name__}); the request was not processed"},
                        status_code=500)


def add_handlers(app: FastAPI) -> None:
    """Install the error handlers on ``app``."""
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(MemfitError, _memfit_error)
    app.add_exception_handler(OverBudget, _over_budget)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
