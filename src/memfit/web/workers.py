"""Every computation a visitor asks for runs in a small pool of worker processes, under a wall-clock deadline.

The server process only parses, validates and answers; ``estimate``, ``curve``, ``fit``, ``plan`` and ``advise``
run in one of ``size`` persistent worker processes (each imports memfit, never torch: a visitor's config is not
built with transformers). A request gets ``budget_s`` seconds of wall time from its arrival, the wait for a free
worker included. When the time runs out the visitor gets a 422 at once (``OverBudget``: which request, the limit,
how to ask for less), and the worker still computing is killed (SIGKILL: a loop inside C code stops too) and
replaced in the background, so no later visitor waits behind it. A worker that dies (the OOM killer, a crash) is
replaced the same way. Workers are forked from a forkserver that imported memfit once, so a replacement starts in
milliseconds; where there is no forkserver (Windows) they are spawned.

Normal requests pay only the trip through a pipe (about a millisecond, measured in ``bench_web_load.py``), not a
trace on every Python call as the previous thread-and-``sys.settrace`` budget did (about 4 times slower on
call-heavy work, and unable to stop a long C call). ``size = 0`` computes in a thread of the server process with
the same deadline for the answer but nothing to kill (tests that patch memfit in-process use it).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

from starlette.concurrency import run_in_threadpool

__all__ = ["DEFAULT_BUDGET_S", "DEFAULT_WORKERS", "OverBudget", "T", "WorkerPool"]

DEFAULT_BUDGET_S = 1.5  # wall seconds per request, waiting for a worker included
DEFAULT_WORKERS = 2
START_TIMEOUT_S = 60.0
T = TypeVar("T")
_PRELOAD = ["memfit.web.preload"]


class OverBudget(Exception):
    """The request needed more time than one request may take (answered as a 422)."""

    def __init__(self, what: str, budget_s: float) -> None:
        super().__init__(
            f"{what} needs more time than this server gives one request ({budget_s:g} s) and was stopped; ask for "
            "less (a shorter context, fewer points, questions or formats, a smaller model) or run it with the "
            "memfit command line, which has no such limit")
        self.budget_s = budget_s


def _serve(conn: Connection) -> None:
    """A worker's life: compute what arrives, send back ("ok", value) or ("err", exception), until the pipe
    closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server; the server stops its workers
    from memfit.web import compute

    compute.warm()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            fn, args, cwd = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if cwd and os.getcwd() != cwd:
                os.chdir(cwd)  # a local path means what it means to the server
            reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as e:  # every failure goes back to the server, which answers for it
            reply = ("err", _portable(e))
        try:
            conn.send(reply)
        except Exception as e:  # a value that cannot travel: said as an internal error
            conn.send(("err", RuntimeError(f"the answer could not be sent ({type(e).__name__})")))


def _portable(e: BaseException) -> BaseException:
    """``e`` if it survives the pipe, else a RuntimeError naming its type (the message is not shown to visitors
    for unexpected errors anyway)."""
    try:
        pickle.loads(pickle.dumps(e))
    except Exception:
        return RuntimeError(type(e).__name__)
    return e


class _Worker:
    def __init__(self, process: Any, conn: Connection) -> None:
        self.process, self.conn = process, conn

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.kill()
        self.conn.close()
        self.process.join(5)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerPool:
    """``size`` worker processes shared by the requests of one app (started on first use)."""

    def __init__(self, size: int = DEFAULT_WORKERS) -> None:
        self.size = size
        self._idle: asyncio.Queue[_Worker] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0  # workers killed at a deadline or found dead, and started anew

    async def run(self, fn: Callable[..., T], *args: Any, deadline: float, budget_s: float, what: str) -> T:
        """``fn(*args)`` in a worker, answered by ``deadline`` (``time.monotonic()``) or ``OverBudget``."""
        if self.size == 0:
            return await self._in_thread(fn, args, deadline, budget_s, what)
        idle = self._start()
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                worker = await idle.get()
        except TimeoutError:
            raise OverBudget(what, budget_s) from None
        try:
            worker.conn.send((fn, args, os.getcwd()))
            ready = await self._readable(worker.conn, deadline - time.monotonic())
            status, value = worker.conn.recv() if ready else ("late", None)
        except (EOFError, OSError):  # the worker died under this request (the OOM killer, a crash)
            self._replace(worker)
            raise RuntimeError("a worker process died while computing this request") from None
        if status == "late":
            self._replace(worker)
            raise OverBudget(what, budget_s)
        idle.put_nowait(worker)
        if status == "err" and isinstance(value, BaseException):
            raise value
        return cast("T", value)

    async def _in_thread(self, fn: Callable[..., T], args: tuple[Any, ...], deadline: float, budget_s: float,
                         what: str) -> T:
        try:
            async with asyncio.timeout(deadline - time.monotonic()):
                return await run_in_threadpool(fn, *args)
        except TimeoutError:
            raise OverBudget(what, budget_s) from None

    async def _readable(self, conn: Connection, timeout: float) -> bool:
        """Whether ``conn`` has an answer within ``timeout`` seconds, without holding a thread where the loop
        can watch the pipe itself."""
        if timeout <= 0:
            return conn.poll(0)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def arrived() -> None:
            if not done.done():
                done.set_result(None)

        try:
            loop.add_reader(conn.fileno(), arrived)
        except NotImplementedError:  # an event loop without readers (Windows' proactor)
            return await asyncio.to_thread(conn.poll, timeout)
        try:
            async with asyncio.timeout(timeout):
                await done
            return True
        except TimeoutError:
            return conn.poll(0)
        finally:
            loop.remove_reader(conn.fileno())

    def _start(self) -> asyncio.Queue[_Worker]:
        loop = asyncio.get_running_loop()
        if self._idle is None or self._loop is not loop:  # first use (or a test client's new loop)
            self._close_workers()
            # last in, first out: the worker that just answered takes the next request, so a visitor's requests
            # about one model (estimate, fit, curves, plan) find its tables and estimates already in that worker
            self._loop, self._idle = loop, asyncio.LifoQueue()
            for _ in range(self.size):
                self._spawn_later()
        return self._idle

    def _spawn_later(self) -> None:
        threading.Thread(target=self._spawn, name="memfit-worker-start", daemon=True).start()

    def _spawn(self) -> None:
        """Start one worker and hand it to the idle queue once it has imported memfit (off the event loop)."""
        ctx = _context()
        ours, theirs = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(theirs,), name="memfit-worker", daemon=True)
        process.start()
        theirs.close()
        worker = _Worker(process, ours)
        if not ours.poll(START_TIMEOUT_S):
            worker.kill()
            return
        try:
            ours.recv()  # ("ready", pid)
        except (EOFError, OSError):
            worker.kill()
            return
        with self._lock:
            if self._closed or self._loop is None or self._idle is None:
                worker.kill()
                return
            self._workers.add(worker)
            loop, idle = self._loop, self._idle
        try:
            loop.call_soon_threadsafe(idle.put_nowait, worker)
        except RuntimeError:  # the loop has closed meanwhile
            worker.kill()

    def _replace(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
            self.replaced += 1
        threading.Thread(target=worker.kill, name="memfit-worker-kill", daemon=True).start()
        if not self._closed:
            self._spawn_later()

    def _close_workers(self) -> None:
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for w in workers:
            w.kill()

    def pids(self) -> list[int]:
        """The worker processes' ids (tests check that a stuck worker is replaced)."""
        with self._lock:
            return sorted(int(w.process.pid) for w in self._workers)

    def open(self) -> None:
        """Allow workers to start (they start on the first computation, or with ``start``)."""
        self._closed = False

    async def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the workers now and wait until they are ready (the app starts up: no visitor waits for them)."""
        if self.size == 0:
            return
        idle = self._start()
        deadline = time.monotonic() + timeout
        while idle.qsize() < self.size and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def close(self) -> None:
        """Stop every worker (the app shuts down); a later ``open`` and request start new ones."""
        self._closed = True
        self._idle = None
        self._close_workers()
