"""``--gpu auto``: the local device, found with the vendor tools (no torch import).

Tried in order, each with a 5-second limit: ``nvidia-smi --query-gpu=name,memory.total`` (NVIDIA),
``rocm-smi --showproductname --showmeminfo vram --json`` (AMD), ``sysctl hw.memsize`` on an Apple-silicon Mac
(unified memory), and last the host RAM (``/proc/meminfo`` or ``sysctl hw.memsize``) as a CPU-only device.
This module only asks the tools; ``hardware.detect_device`` resolves the answer against the catalog (when the
catalog row's memory disagrees with what the tool reports — a MIG slice, a 12 GB card sold under a 10 GB name —
or the name is unknown, the device is built from the reported total by the catalog's ``[cuda_rule]``).
Tests pass ``run`` to fake the tools' output.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Detected", "Runner", "detect", "run_tool"]

Runner = Callable[[list[str]], str | None]
MAX_OUTPUT = 1 << 20  # a tool's answer longer than 1 MiB is not a GPU list


@dataclass(frozen=True)
class Detected:
    """One device a vendor tool reported: its printed name, total memory in bytes and the tool."""

    name: str
    total_bytes: int
    tool: str  # nvidia-smi | rocm-smi | sysctl | meminfo


def run_tool(cmd: list[str]) -> str | None:
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


def detect(run: Runner = run_tool, meminfo: Path = Path("/proc/meminfo")) -> list[Detected]:
    """Every local device the first tool that answers reports (GPUs), else the host RAM."""
    for probe in (_nvidia, _amd, _apple):
        found = probe(run)
        if found:
            return found
    return _host_ram(run, meminfo)
