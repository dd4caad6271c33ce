"""``--gpu auto``: the local device, found with the vendor tools (no torch import).

Tried in order, each with a 5-second limit: ``nvidia-smi --query-gpu=name,memory.total`` (NVIDIA),
``rocm-smi --showproductname --showmeminfo vram --json`` (AMD), ``sysctl hw.memsize`` on an Apple-silicon Mac
(unified memory), and last the host RAM (``/proc/meminfo`` or ``sysctl hw.memsize``) as a CPU-only device.
A detected name is resolved against the catalog (``hardware.resolve_name``); when the catalog row's memory
disagrees with what the tool reports (a MIG slice, a 12 GB card sold under a 10 GB name) or the name is
unknown, the device is built from the reported total by the catalog's ``[cuda_rule]``.
Tests pass ``run`` to fake the tools' output.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import ConfigError
from .hardware import Device, _load, cuda_rule_bytes, devices, resolve_name
from .units import GIB, fmt_bytes

__all__ = ["Detected", "detect", "detect_device"]

Runner = Callable[[list[str]], str | None]
MAX_OUTPUT = 1 << 20  # a tool's answer longer than 1 MiB is not a GPU list


@dataclass(frozen=True)
class Detected:
    """One device a vendor tool reported: its printed name, total memory in bytes and the tool."""

    name: str
    total_bytes: int
    tool: str  # nvidia-smi | rocm-smi | sysctl | meminfo


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout[:MAX_OUTPUT] if out.returncode == 0 else None


def _nvidia(run: Runner) -> list[Detected]:
    out = run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"])
    found = []
    for line in (out or "").splitlines():
        name, _, mib = line.rpartition(",")
        if name.strip() and mib.strip().isdigit():
            found.append(Detected(name.strip(), int(mib.strip()) * 2**20, "nvidia-smi"))
    return found


def _amd(run: Runner) -> list[Detected]:
    out = run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    try:
        doc = json.loads(out or "{}")
    except ValueError:
        return []
    found = []
    for card in (doc.values() if isinstance(doc, dict) else []):
        if not isinstance(card, dict):
            continue
        name = str(card.get("Card Series") or card.get("Card series") or card.get("Card model") or "")
        total = str(card.get("VRAM Total Memory (B)", ""))
        if name and total.isdigit():
            found.append(Detected(name, int(total), "rocm-smi"))
    return found


def _apple(run: Runner) -> list[Detected]:
    brand = (run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    mem = (run(["sysctl", "-n", "hw.memsize"]) or "").strip()
    if brand.startswith("Apple") and mem.isdigit():
        return [Detected(brand, int(mem), "sysctl")]
    return []


def _host_ram(run: Runner, meminfo: Path) -> list[Detected]:
    try:
        text = meminfo.read_text(encoding="ascii", errors="replace")[:MAX_OUTPUT]
    except OSError:
        text = ""
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    if m:
        return [Detected("CPU only (host RAM)", int(m.group(1)) * 1024, "meminfo")]
    mem = (run(["sysctl", "-n", "hw.memsize"]) or "").strip()
    return [Detected("CPU only (host RAM)", int(mem), "sysctl")] if mem.isdigit() else []


def detect(run: Runner = _run, meminfo: Path = Path("/proc/meminfo")) -> list[Detected]:
    """Every local device the first tool that answers reports (GPUs), else the host RAM."""
    for probe in (_nvidia, _amd, _apple):
        found = probe(run)
        if found:
            return found
    return _host_ram(run, meminfo)


def _apple_device(d: Detected) -> Device:
    data = _load()["apple"]
    share = float(data["default_gpu_share"])
    gib = d.total_bytes / GIB
    same = [x for x in devices() if x.kind == "apple" and abs(x.memory_gb - gib) < 0.5 and
            x.name.lower().startswith(d.name.lower())]
    base = same[0] if same else next(x for x in devices() if x.kind == "apple")
    if same:
        return replace(base, capacity_basis=f"detected by sysctl: {d.name}, {fmt_bytes(d.total_bytes)}; "
                       + base.capacity_basis)
    return replace(base, id="auto", name=f"{d.name} {gib:.0f}GB", memory_gb=round(gib, 2), memory_bytes=d.total_bytes,
                   capacity_bytes=round(d.total_bytes * share), capacity_measured=False,
                   capacity_basis=f"detected by sysctl: {d.name} with {fmt_bytes(d.total_bytes)} unified memory; the "
                   f"default GPU share {share:.0%} (raise it with `sudo sysctl iogpu.wired_limit_mb=N`, pass --memory)")


def _gpu_device(d: Detected, count: int) -> Device:
    known = resolve_name(d.name)
    mib = d.total_bytes / 2**20
    many = f" (1 of {count} detected)" if count > 1 else ""
    if known is not None:
        nominal_mib = known.memory_gb * 1024 / known.logical_devices
        if abs(mib - nominal_mib) <= 0.08 * nominal_mib:  # the ECC share and the driver's reserve, at most
            return replace(known, capacity_basis=f"detected by {d.tool}: {d.name}, {mib:,.0f} MiB{many}; "
                           + known.capacity_basis)
    rule = _load()["cuda_rule"]
    cap = cuda_rule_bytes(mib / 1024, False, rule)  # the tool's total already excludes the ECC share
    base = known or next(x for x in devices() if x.vendor == ("amd" if d.tool == "rocm-smi" else "nvidia"))
    return replace(base, id="auto", name=d.name, memory_gb=round(mib / 1024, 2), memory_bytes=d.total_bytes,
                   capacity_bytes=cap, capacity_measured=False, bandwidth=known.bandwidth if known else None,
                   dtypes=known.dtypes if known else (), aliases=(), smi_names=(d.name,), smi_total_mib=round(mib),
                   capacity_basis=f"detected by {d.tool}: {d.name}, {mib:,.0f} MiB{many}"
                   f"{'' if known else ' (not in the catalog)'}; CUDA total derived by the catalog's rule: less "
                   f"{rule['reserve_mib']} MiB + {100 * rule['reserve_fraction']:g} %")


def detect_device(run: Runner = _run, meminfo: Path = Path("/proc/meminfo")) -> Device:
    """The local device as a catalog ``Device`` (the first GPU when there are several)."""
    found = detect(run, meminfo)
    if not found:
        raise ConfigError("--gpu auto found no GPU (nvidia-smi, rocm-smi, sysctl) and could not read the host RAM: "
                          "name the GPU (memfit gpus lists them) or give --gpu cpu --memory SIZE")
    first = found[0]
    if first.tool == "sysctl" and first.name.startswith("Apple"):
        return _apple_device(first)
    if first.tool == "meminfo" or first.name.startswith("CPU only"):
        cpu = next(x for x in devices() if x.kind == "cpu")
        return replace(cpu, capacity_bytes=first.total_bytes, memory_bytes=first.total_bytes,
                       capacity_basis=f"no GPU found: the host RAM, {fmt_bytes(first.total_bytes)} ({first.tool})")
    return _gpu_device(first, len(found))
