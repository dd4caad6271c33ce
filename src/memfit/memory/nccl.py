"""NCCL's device memory per rank: the communicator of a training run across GPUs, outside PyTorch's pool.

A run that trains over several GPUs (FSDP, ZeRO, DDP: every collective on the default process group) creates one
NCCL communicator per rank at its first collective. NCCL allocates that communicator's buffers with ``cudaMalloc`` /
``cuMemCreate`` itself, so ``nvidia-smi`` shows them and ``torch.cuda.memory_reserved()`` does not. Per rank
(NCCL 2.20.5, the release torch 2.4 pins; ``data/nccl.toml`` has each figure with the file it is read in):

* **connections**: each coll channel's ring sends to one peer and receives from one (with two ranks the channel's
  tree reuses them); a send connection holds ``ncclSendMem`` and, when the peer reads it (P2P read: NVLink between
  compute-capability-8.0 GPUs), the Simple protocol's buffer; a receive connection ``ncclRecvMem`` and the other
  protocols' buffers; each rounded up to ``CUDA_IPC_MIN`` (2 MiB) — 6 + 6 MiB per channel with P2P read, 2 + 10
  without (``transport/p2p.cc`` ``p2pSendSetup`` / ``p2pRecvSetup``);
* **channel structures**: three device allocations per initialised channel (``channel.cc`` ``initChannel``) and one
  per communicator, each a cuMem allocation of at least the 2 MiB granularity (cuMem is NCCL's default since 2.19);
  every p2p channel is initialised at init (``nextPow2`` of the coll channels).

Priced where the case's GPU and layout have a row (``[[nccl.layout]]``: its coll channels from a published NCCL
log); other layouts get no term (their channel count and tree peers are not at hand). NCCL's kernel module is
not priced either (lazily loaded; its size is not published).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from dataclasses import replace
from functools import cache
from typing import Any

from ..hardware import Device
from ..result import Component, Estimate
from ..units import fmt_bytes
from ..workload import Workload
from .overhead import _shift, context_on_device

__all__ = [
    "communicator_bytes",
    "connection_bytes",
    "context_and_nccl",
    "nccl_layout",
    "nccl_on_device",
    "p2p_channels",
]

NAME = "nccl"


@cache
def nccl_data() -> dict[str, Any]:
    """The table in ``data/nccl.toml``."""
    text = importlib.resources.files("memfit").joinpath("data", "nccl.toml").read_text("utf-8")
    return tomllib.loads(text)["nccl"]  # type: ignore[no-any-return]


def _round_up(n: int, align: int) -> int:
    return -(-n // align) * align


def connection_bytes(read: bool) -> tuple[int, int]:
    """Device bytes of one send and one receive connection (``transport/p2p.cc``): the Simple buffer on the
    sending side when the peer reads it (P2P read), on the receiving side otherwise; each rounded to
    ``CUDA_IPC_MIN``."""
    d = nccl_data()
    simple, others = int(d["simple_buffer_bytes"]), int(d["ll_buffer_bytes"]) + int(d["ll128_buffer_bytes"])
    mem, align = int(d["conn_mem_bytes"]), int(d["ipc_align_bytes"])
    send = _round_up(mem + (simple if read else 0), align)
    recv = _round_up(mem + others + (0 if read else simple), align)
    return send, recv


def p2p_channels(coll_channels: int) -> int:
    """Channels initialised at init: the coll channels, then up to ``nextPow2(min(coll, MAXCHANNELS))`` for p2p
    (``graph/paths.cc`` ``ncclTopoComputeP2pChannels``)."""
    n = min(coll_channels, int(nccl_data()["max_channels"]))
    p = 1
    while p < n:
        p *= 2
    return p


def _structures(coll_channels: int) -> int:
    """cuMem allocations of the channel structures: three per initialised channel, one for the communicator."""
    d = nccl_data()
    return p2p_channels(coll_channels) * int(d["allocations_per_channel"]) + int(d["allocations_per_comm"])


def communicator_bytes(coll_channels: int, read: bool) -> int:
    """One rank's device bytes of a two-rank communicator: a send and a receive connection per coll channel, the
    per-channel structures of every initialised channel and the communicator's own, at the cuMem granularity."""
    send, recv = connection_bytes(read)
    return coll_channels * (send + recv) + _structures(coll_channels) * int(nccl_data()["cumem_granularity_bytes"])


def nccl_layout(device: Device, ranks: int) -> dict[str, Any] | None:
    """The ``[[nccl.layout]]`` row of ``device`` for a communicator of ``ranks`` ranks (None: not priced)."""
    for row in nccl_data()["layout"]:
        if device.id in row["devices"] and int(row["ranks"]) == ranks:
            return dict(row)
    return None


def _component(device: Device, wl: Workload) -> Component | None:
    """The communicator of a data-parallel training run (one process group over every GPU) on ``device``."""
    if wl.mode == "inference" or wl.gpus <= 1 or wl.tp * wl.pp != 1:
        return None
    row = nccl_layout(device, wl.gpus)
    if row is None:
        return None
    channels, read = int(row["coll_channels"]), bool(row["p2p_read"])
    send, recv = connection_bytes(read)
    n = communicator_bytes(channels, read)
    d = nccl_data()
    return Component(
        NAME,
        n,
        f"NCCL {d['version']} communicator of {wl.gpus} ranks on {device.id}, outside PyTorch's pool: {channels} "
        f"coll channels x (send {fmt_bytes(send)} + receive {fmt_bytes(recv)}{', P2P read' if read else ''}) + "
        f"{_structures(channels)} channel allocations x {fmt_bytes(int(d['cumem_granularity_bytes']))} (cuMem) = "
        f"{fmt_bytes(n)} (data/nccl.toml)",
    )


def nccl_on_device(est: Estimate, device: Device | None, wl: Workload) -> Estimate:
    """``est`` with the NCCL communicator of ``wl``'s layout on ``device`` (replacing one it has); the per-GPU
    details follow. Without a device, for one GPU, inference, or a layout with no row, ``est`` as it is."""
    comp = None if device is None else _component(device, wl)
    if comp is None or not est.component("cuda_context"):
        return est
    old = est.component(NAME)
    comps = (*(c for c in est.components if c.name != NAME), comp)
    details = dict(est.details)
    if "per_gpu" in details:
        details["per_gpu"] = _shift(details["per_gpu"], comp.bytes, comp.bytes - old, NAME)
    return replace(est, components=comps, details=details)


def context_and_nccl(est: Estimate, device: Device | None, wl: Workload) -> Estimate:
    """What the run holds outside PyTorch's pool on ``device``: its generation's CUDA context
    (``overhead.context_on_device``) and, across GPUs, NCCL's communicator."""
    return nccl_on_device(context_on_device(est, device), device, wl)
