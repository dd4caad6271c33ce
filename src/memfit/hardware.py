"""The hardware catalog (``data/gpus.toml``): memory, bandwidth and native dtypes of each device, with sources.

Capacity is what a process can allocate, in bytes: the total CUDA reports (``torch.cuda.mem_get_info``), which
is what vLLM and SGLang budget from:

* ``cuda_total_bytes`` / ``cuda_total_gib`` where a public log prints it (H100 SXM: 85,017,493,504 of its 80 GiB;
  a cloud T4: 14.56 GiB of its 16);
* for unified memory (Apple silicon) the share macOS lets the GPU wire: measured where known, else the
  default share (75 %), tunable with ``sudo sysctl iogpu.wired_limit_mb`` — pass ``memory=`` then;
* otherwise derived by the ``[cuda_rule]`` of the data file: the nominal size (read as GiB), less 1/16 for ECC
  on data-centre GDDR, less the driver's reserve.

Names resolve from the id, the name, the aliases and the names ``nvidia-smi`` / ``rocm-smi`` print
("NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3", "Tesla T4"); ``auto`` detects the local device
(``memfit.detect``).

``memory=`` overrides the capacity of any device (e.g. a MIG slice, or what ``nvidia-smi`` shows as free);
the CPU-only device has no capacity until it is given.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from .detect import Detected, Runner, detect, run_tool
from .errors import ConfigError, UnknownModelError
from .units import GIB, fmt_bytes, parse_bytes

__all__ = ["Device", "DtypeCheck", "check_dtype", "cuda_rule_bytes", "detect_device", "devices", "get_device",
           "hardware_dtype", "resolve_name", "wddm_notes"]


@dataclass(frozen=True)
class Device:
    """One accelerator (or the host, for CPU-only runs) as one process sees it."""

    id: str
    name: str
    vendor: str  # nvidia | amd | apple | cpu
    kind: str  # datacenter | workstation | consumer | apple | cpu
    arch: str
    memory_gb: float  # as printed by the vendor (read as GiB)
    memory_bytes: int  # nominal, per logical device: memory_gb × 2^30 / logical_devices
    capacity_bytes: int  # what one process can allocate on one logical device
    capacity_basis: str  # where capacity_bytes comes from
    bandwidth: float | None  # bytes per second per logical device (None: not published)
    dtypes: tuple[str, ...]  # natively supported by the matrix units
    source: str
    dtypes_source: str = ""
    aliases: tuple[str, ...] = ()
    logical_devices: int = 1
    notes: str = ""
    derived: str = ""
    smi_names: tuple[str, ...] = ()
    smi_total_mib: int | None = None  # what nvidia-smi prints as the total, where a log shows it
    capacity_measured: bool = False  # capacity_bytes read from a published log (else a stated rule)
    host_bytes: int | None = None  # host RAM per GPU for offloaded states and CPU layers (None: not given)
    wddm_total_bytes: int | None = None  # the CUDA total under Windows / WSL2 (WDDM), where a log shows it

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "vendor": self.vendor, "kind": self.kind, "arch": self.arch,
            "memory_gb": self.memory_gb, "memory_bytes": self.memory_bytes, "capacity_bytes": self.capacity_bytes,
            "capacity_basis": self.capacity_basis,
            "bandwidth_bytes_per_s": self.bandwidth, "dtypes": list(self.dtypes), "logical_devices":
                self.logical_devices, "aliases": list(self.aliases), "source": self.source,
            "dtypes_source": self.dtypes_source, "notes": self.notes, "derived": self.derived,
            "smi_names": list(self.smi_names), "smi_total_mib": self.smi_total_mib,
            "capacity_measured": self.capacity_measured,
            **({} if self.host_bytes is None else {"host_bytes": self.host_bytes}),
            **({} if self.wddm_total_bytes is None else {"wddm_total_bytes": self.wddm_total_bytes}),
        }


def wddm_notes(dev: Device, total: int) -> list[str]:
    """The platform caveat for a catalog total that is native Linux's where Windows / WSL2 (WDDM) report more."""
    if dev.wddm_total_bytes is None or total != dev.capacity_bytes or dev.capacity_basis.startswith("given"):
        return []
    wddm = dev.wddm_total_bytes / 2**30
    return [f"{dev.name}: {total / 2**30:.2f} GiB is the CUDA total on native Linux; under Windows / WSL2 (WDDM) CUDA "
            f"reports the whole nvidia-smi total, {wddm:.2f} GiB: pass --memory {wddm:.2f}GiB there"]


def _load() -> dict[str, Any]:
    text = (resources.files("memfit") / "data" / "gpus.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def cuda_rule_bytes(memory_gb: float, ecc: bool, rule: dict[str, Any]) -> int:
    """The CUDA-visible total of a device no log reports: nominal MiB, less 1/16 with ECC on GDDR, less the
    driver's reserve (``[cuda_rule]`` of the data file)."""
    mib = float(memory_gb) * 1024 * (1 - float(rule["ecc_fraction"]) if ecc else 1.0)
    return int((mib - float(rule["reserve_mib"]) - float(rule["reserve_fraction"]) * mib) * 2**20)


def _capacity(row: dict[str, Any], nominal: int, data: dict[str, Any]) -> tuple[int, str, bool]:
    logical = int(row.get("logical_devices", 1))
    if "cuda_total_bytes" in row:
        return int(row["cuda_total_bytes"]), f"measured CUDA total: {row['cuda_total_source']}", True
    if "cuda_total_gib" in row:
        wddm = (f"; native Linux (under Windows / WSL2 CUDA reports {row['wddm_total_gib']} GiB: pass --memory "
                f"{row['wddm_total_gib']}GiB there)") if "wddm_total_gib" in row else ""
        return (round(float(row["cuda_total_gib"]) * GIB),
                f"measured CUDA total {row['cuda_total_gib']} GiB: {row['cuda_total_source']}{wddm}", True)
    if "usable_gib" in row:
        return (round(float(row["usable_gib"]) * GIB),
                f"GPU share of unified memory, measured {row['usable_gib']} GiB: {row['usable_source']}", True)
    if row["kind"] == "apple":
        share = float(data["apple"]["default_gpu_share"])
        return round(nominal * share), (f"default GPU share {share:.0%} of unified memory ({data['apple']['source']}); "
                                        "raise it with `sudo sysctl iogpu.wired_limit_mb=N` and pass --memory"), False
    if row["kind"] == "cpu":
        return 0, "host RAM: give it with --memory", False
    ecc = bool(row.get("ecc_default", False))
    cap = cuda_rule_bytes(float(row["memory_gb"]) / logical, ecc, data["cuda_rule"])
    rule = data["cuda_rule"]
    per = f" / {logical} logical devices" if logical > 1 else ""
    basis = (f"no published CUDA total: derived as {row['memory_gb']} GiB{per}{' less 1/16 for ECC' if ecc else ''}, "
             f"less {rule['reserve_mib']} MiB + {100 * rule['reserve_fraction']:g} % (the driver's reserve, from the "
             "measured rows); pass --memory for the exact total")
    return cap, basis, False


def _build(row: dict[str, Any], data: dict[str, Any]) -> Device:
    logical = int(row.get("logical_devices", 1))
    nominal = round(float(row["memory_gb"]) * GIB) // logical
    cap, basis, measured = _capacity(row, nominal, data)
    arch = data["arch"][row["arch"]]
    bw = row.get("bandwidth_gbs")
    smi = row.get("smi_total_mib")
    wddm = row.get("wddm_total_gib")
    return Device(
        id=row["id"], name=row["name"], vendor=row["vendor"], kind=row["kind"], arch=row["arch"],
        memory_gb=float(row["memory_gb"]), memory_bytes=nominal, capacity_bytes=cap, capacity_basis=basis,
        bandwidth=None if bw is None else float(bw) * 1e9 / logical, dtypes=tuple(arch["dtypes"]),
        source=row["source"], dtypes_source=arch["source"], aliases=tuple(row.get("aliases", ())),
        logical_devices=logical, notes=row.get("notes", ""), derived=row.get("derived", ""),
        smi_names=tuple(row.get("smi_names", ())), smi_total_mib=None if smi is None else int(smi),
        capacity_measured=measured, wddm_total_bytes=None if wddm is None else round(float(wddm) * GIB),
    )


@cache
def devices() -> tuple[Device, ...]:
    """Every device in the catalog, in file order (vendor, then generation)."""
    data = _load()
    return tuple(_build(r, data) for r in data["device"])


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


# Words vendor tools put around a model name ("NVIDIA GeForce RTX 4090", "Tesla T4", "AMD Radeon RX 7900 XTX").
_VENDOR_WORDS = re.compile(r"\b(nvidia|geforce|tesla|amd|ati|radeon|instinct|graphics|corporation)\b")
_MEMORY_SUFFIX = re.compile(r"[\s\-]*(\d+\s*g(i?b)?)?[\s\-]*(hbm\d?e?|gddr\d?x?)?\s*$")


@cache
def _index() -> dict[str, Device]:
    index: dict[str, Device] = {}
    for d in devices():
        for k in (d.id, d.name, *d.aliases, *d.smi_names):
            index.setdefault(_key(k), d)
    return index


def resolve_name(name: str) -> Device | None:
    """The catalog device a typed or tool-printed name means, or None: exact key, then without the vendor's
    words ("NVIDIA GeForce "), then also without a trailing memory size / type ("80GB HBM3")."""
    index = _index()
    low = name.strip().lower()
    bare = re.sub(r"\s+", " ", _VENDOR_WORDS.sub(" ", low)).strip()
    for cand in (low, bare, _MEMORY_SUFFIX.sub("", bare)):
        if cand and _key(cand) in index:
            return index[_key(cand)]
    return None


def get_device(name: str | Device, memory: int | str | None = None, bandwidth: float | None = None,
               host_memory: int | str | None = None) -> Device:
    """The device called ``name`` (id, name, alias or the name nvidia-smi / rocm-smi prints; case, spaces and
    dashes ignored); ``"auto"`` detects the local GPU (``memfit.detect``).

    ``memory`` (bytes or "24GiB") replaces the capacity; ``bandwidth`` (bytes/s) the bandwidth; ``host_memory``
    is the host RAM per GPU that offloaded states may use (a node's RAM ÷ its GPUs).
    Raises UnknownModelError with close names for a typo, ConfigError for CPU-only without ``memory``.
    """
    if isinstance(name, Device):
        dev = name
    elif name.strip().lower() == "auto":
        dev = detect_device()
    else:
        dev_opt = resolve_name(name)
        if dev_opt is None:
            keys = sorted({k for d in devices() for k in (d.id, *d.aliases)})
            close = difflib.get_close_matches(name.strip().lower(), keys, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownModelError(f"unknown GPU {name!r}{hint} (`memfit gpus` lists all "
                                    f"{len(devices())}; or use --gpu cpu --memory SIZE for any device)")
        dev = dev_opt
    if memory is not None:
        cap = parse_bytes(memory) if isinstance(memory, str) else int(memory)
        if cap <= 0:
            raise ConfigError(f"memory = {memory!r} must be a positive size such as 24GiB or 80GB")
        dev = replace(dev, capacity_bytes=cap, capacity_basis=f"given: {fmt_bytes(cap)}",
                      memory_bytes=dev.memory_bytes or cap)
    elif dev.capacity_bytes <= 0:
        raise ConfigError(f"{dev.name} has no fixed memory: give the host RAM, e.g. --memory 64GiB")
    if bandwidth is not None:
        if bandwidth <= 0:
            raise ConfigError(f"bandwidth = {bandwidth!r} must be positive (bytes per second)")
        dev = replace(dev, bandwidth=float(bandwidth))
    if host_memory is not None:
        host = parse_bytes(host_memory) if isinstance(host_memory, str) else int(host_memory)
        if host <= 0:
            raise ConfigError(f"host_memory = {host_memory!r} must be a positive size such as 256GB (host RAM per "
                              "GPU)")
        dev = replace(dev, host_bytes=host)
    return dev


# Which hardware dtype a storage/compute format needs to run natively. Formats not listed here are
# weight-only quantizations (GGUF k-quants, GPTQ, AWQ, bitsandbytes nf4/fp4, int4): kernels dequantize them
# to the compute dtype, so they need no native support beyond the compute dtype.
_HW_DTYPE = {
    "float32": "fp32", "fp32": "fp32", "f32": "fp32", "float": "fp32",
    "float16": "fp16", "fp16": "fp16", "f16": "fp16", "half": "fp16",
    "bfloat16": "bf16", "bf16": "bf16",
    "fp8": "fp8", "float8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "e4m3": "fp8", "e5m2": "fp8",
    "mxfp8": "fp8",
    "fp6": "fp6", "mxfp6": "fp6",
    "nvfp4": "fp4", "mxfp4": "fp4",
}


def hardware_dtype(fmt: str) -> str | None:
    """The hardware dtype ``fmt`` computes in natively (``bf16`` for bfloat16), or None for weight-only formats."""
    return _HW_DTYPE.get(fmt.strip().lower())


@dataclass(frozen=True)
class DtypeCheck:
    """Whether a format is native on a device; ``message`` says what happens if not."""

    format: str
    hardware_dtype: str | None
    native: bool | None  # None: not applicable (weight-only format) or unknown (CPU)
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format, "hardware_dtype": self.hardware_dtype, "native": self.native,
                "message": self.message}


_FALLBACK = {
    "bf16": "frameworks emulate bf16 or refuse it; use fp16 instead",
    "fp8": "runtimes fall back to weight-only fp8 (dequantized to fp16/bf16, e.g. vLLM's Marlin kernels) "
           "or refuse; memory is as estimated, speed is not fp8",
    "fp4": "runtimes dequantize fp4 weights to 16 bits in the kernel (weight-only), or refuse",
    "fp6": "runtimes dequantize fp6 weights to 16 bits in the kernel, or refuse",
    "fp16": "fp16 runs but slower than on a device with fp16 matrix units",
    "int8": "int8 matmuls are emulated",
}


def check_dtype(device: Device, fmt: str) -> DtypeCheck:
    """Is ``fmt`` native on ``device``? Flags bf16 on V100/T4, fp8 on A100, fp4 before Blackwell …"""
    hw = hardware_dtype(fmt)
    if hw is None:
        return DtypeCheck(fmt, None, None, f"{fmt}: weight-only format, dequantized to the compute dtype by the "
                                           "kernel; no native support needed")
    if not device.dtypes:
        return DtypeCheck(fmt, hw, None, f"{fmt} on {device.name}: depends on the CPU's instruction set")
    if hw in device.dtypes:
        return DtypeCheck(fmt, hw, True, f"{fmt} is native on {device.name} ({device.arch})")
    return DtypeCheck(fmt, hw, False, f"{fmt} is not native on {device.name} ({device.arch} runs "
                                      f"{', '.join(device.dtypes)}): {_FALLBACK.get(hw, 'expect emulation')}")


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


def detect_device(run: Runner = run_tool, meminfo: Path = Path("/proc/meminfo")) -> Device:
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
