""""What runs on my GPU": every catalog model on one GPU, from ``memfit.whatfits.models_that_fit``.

That list takes seconds (every catalog model, every format the runtime reads, the longest context), more than
one request may compute. So it is a job: the first request for a (GPU, runtime, context, memory) starts it
and is answered at once with ``202 {"status": "computing"}``; the page asks again until the list is there
(``200 {"status": "done", "models": [...]}``). One job runs at a time, in its own thread (a question for another
list meanwhile gets ``429``: nothing queues behind it); its work is bounded by
the catalog (every bundled model once, 1 to 3 s of CPU), it reads no visitor file and never imports torch
(the catalog's generic-path models come from the shipped builds; anything else is refused a build). Finished
lists (and refusals) are remembered for the last ``KEEP`` questions.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

from ..errors import MemfitError
from ..hardware import get_device
from ..sources.meta_build import builds_refused

__all__ = ["KEEP", "FitsJobs", "available"]

KEEP = 64
Key = tuple[str, str, int | None, int | str | None]


def available() -> Callable[..., list[Any]] | None:
    """``memfit.whatfits.models_that_fit`` when this memfit has it."""
    try:
        module = importlib.import_module("memfit.whatfits")
    except ImportError:
        return None
    fn = getattr(module, "models_that_fit", None)
    return cast("Callable[..., list[Any]]", fn) if callable(fn) else None


class FitsJobs:
    """The running job and the finished lists, shared by the requests of one app."""

    def __init__(self, compute: Callable[..., list[Any]]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memfit-fits")
        self._running: dict[Key, Future[dict[str, Any]]] = {}
        self._done: OrderedDict[Key, dict[str, Any]] = OrderedDict()

    def ask(self, gpu: str, runtime: str, context: int | None, memory: int | str | None) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): the list when it is ready, else a note that it is being computed."""
        device = get_device(gpu, memory=memory)  # an unknown GPU or a bad memory: a 400 at once
        key: Key = (device.id, runtime, context, memory)
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                doc = self._done[key]
                return (200 if doc["status"] == "done" else 422), doc
            job = self._running.get(key)
            if job is None and self._running:  # one list at a time, and no queue of others behind it
                return 429, {"status": "busy", "retry_after_s": 5,
                             "error": "another list is being computed on this server; ask again in a few seconds"}
            if job is None:
                job = self._pool.submit(self._job, gpu, runtime, context, memory)
                self._running[key] = job
                job.add_done_callback(lambda f, k=key: self._finish(k, f))  # type: ignore[misc]
        return 202, {"status": "computing", "retry_after_s": 1, "device": device.id, "runtime": runtime,
                     "context": context}

    def _job(self, gpu: str, runtime: str, context: int | None, memory: int | str | None) -> dict[str, Any]:
        started = time.monotonic()
        try:
            with builds_refused("not built by the web server (the catalog's builds ship with memfit)"):
                rows = self._compute(gpu, context=context, runtime=runtime, memory=memory)
        except MemfitError as e:
            return {"status": "refused", "error": str(e)}
        return {"status": "done", "device": get_device(gpu, memory=memory).id, "runtime": runtime,
                "context": context, "seconds": round(time.monotonic() - started, 2),
                "models": [r.to_json() for r in rows]}

    def _finish(self, key: Key, job: Future[dict[str, Any]]) -> None:
        try:
            doc = job.result()
        except Exception as e:  # a bug in the list: said once, not retried forever
            doc = {"status": "refused", "error": f"the list could not be computed ({type(e).__name__})"}
        with self._lock:
            self._running.pop(key, None)
            self._done[key] = doc
            while len(self._done) > KEEP:
                self._done.popitem(last=False)
