"""Every computation a visitor asks for runs in a worker thread, off the event loop, under a time budget.

The budget is work: ``budget_s`` seconds of the worker thread's CPU time, so a busy machine does not turn a
normal request away; a wall-clock cap of ``WALL_FACTOR × budget_s`` from the request's arrival (waiting for a
turn included) bounds what a visitor waits. The worker thread runs with a trace function (``sys.settrace``,
this thread only) that is called at each Python function call: once either runs out, the next call into
memfit's own code raises ``Interrupted`` (a
``BaseException``, so memfit's ``except Exception`` handlers do not swallow it), which unwinds the computation
where it stands; the visitor gets a 422 saying which budget ran out and how to ask for less. Only memfit's
frames are interrupted, never a garbage-collector callback that happens to run in the thread. Nothing is
cached from an interrupted computation (``lru_cache`` stores only returned values). The clocks are read at
every 64th call, which keeps the trace's cost to about the cost of the calls themselves.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["DEFAULT_BUDGET_S", "WALL_FACTOR", "Interrupted", "OverBudget", "T", "run_bounded", "run_until"]

DEFAULT_BUDGET_S = 1.0
WALL_FACTOR = 1.3
T = TypeVar("T")


class Interrupted(BaseException):
    """Raised inside a worker thread whose budget ran out."""


class OverBudget(Exception):
    """The request needed more time than one request may take (answered as a 422)."""

    def __init__(self, what: str, budget_s: float) -> None:
        super().__init__(
            f"{what} needs more work than this server gives one request ({budget_s:g} s of computing) and was "
            "stopped; "
            "ask for less (a shorter context, fewer points, questions or formats, a smaller model) or run it "
            "with the memfit command line, which has no such limit")
        self.budget_s = budget_s


_MEMFIT = str(Path(__file__).resolve().parent.parent) + os.sep


def run_until(deadline: float, work_s: float, fn: Callable[..., T], args: tuple[Any, ...],
              kwargs: dict[str, Any] | None = None) -> T:
    """``fn(*args)`` in this thread, stopped by ``Interrupted`` at the first memfit call after ``deadline``
    (``time.monotonic()``) or after ``work_s`` seconds of this thread's CPU time."""
    if time.monotonic() > deadline:  # the time ran out while the call waited for a thread
        raise Interrupted
    cpu_end = time.thread_time() + work_s
    calls = [0]
    expired = [False]

    def tracer(frame: FrameType, event: str, arg: Any) -> None:
        calls[0] += 1
        if calls[0] & 63 and not expired[0]:  # the clocks are read at every 64th call: the trace stays cheap
            return None
        if expired[0] or time.thread_time() > cpu_end or time.monotonic() > deadline:
            expired[0] = True
            if frame.f_code.co_filename.startswith(_MEMFIT):  # else: at the next call into memfit
                raise Interrupted
        return None  # no line-by-line tracing inside the frame

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        return fn(*args, **(kwargs or {}))
    finally:
        sys.settrace(previous)


async def run_bounded(fn: Callable[..., T], *args: Any, deadline: float, budget_s: float, what: str) -> T:
    """``fn(*args)`` in a worker thread, interrupted at ``deadline`` (``time.monotonic()``) or after
    ``budget_s`` of its CPU time."""
    if deadline <= time.monotonic():
        raise OverBudget(what, budget_s)
    try:
        return await run_in_threadpool(run_until, deadline, budget_s, fn, args)
    except Interrupted:
        raise OverBudget(what, budget_s) from None
