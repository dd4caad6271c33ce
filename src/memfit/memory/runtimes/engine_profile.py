"""What a serving engine decides before it allocates: its per-step defaults and fixed reserves, by version and
device (vLLM) — every figure from ``data/runtime_overheads.toml`` with its source.

vLLM's OpenAI server picks ``max_num_seqs`` / ``max_num_batched_tokens`` from the device: 1024 / 8192 when the
device reports at least 70 GiB and is not an A100, else 256 / 2048 (V1, 0.8 to 0.27; 0.28 adds 16384 tokens at
160 GiB and more). V0 (0.6, 0.7) ran 256 sequences and a whole ``max_model_len`` prompt per step unless
chunked prefill was on (above 32K tokens: 512 per step). The test for 70 GiB reads the total NVML reports
(``nvidia-smi``'s MiB), which is the ECC-adjusted nominal size where no log gives it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from ...errors import ConfigError
from ...hardware import Device, get_device
from ...units import GIB
from ...workload import Workload
from ..overhead import overhead_data

__all__ = ["EngineProfile", "default_device", "default_gpu_memory_utilization", "nvml_total_bytes", "parse_version",
           "vllm_profile", "vllm_utilization", "with_model_runner"]


@dataclass(frozen=True)
class EngineProfile:
    """The vLLM engine as memfit models it for one version on one device."""

    version: str  # the version asked for (or the default)
    since: str  # the profile row that applies
    engine: str  # v0 | v1
    max_num_seqs: int
    max_num_batched_tokens: int
    chunked_prefill: bool
    non_torch_bytes: int
    cuda_graph_modes: int  # graphs per capture size (0: not modelled, V0)
    cuda_graph_step: int  # capture sizes every 8 (0.8-0.10) or 16 (0.11+) above 256
    graphs_in_budget: bool  # 0.21+: the CUDA graph estimate is taken from the budget before the KV cache
    moe_workspace: bool  # 0.19+: fused-MoE workspaces held through the profile run
    sampler: str  # native | flashinfer | triton: the top-k/top-p path of the profiling run's dummy sampler run
    sampler_bytes: int  # bytes alive per max_num_seqs × vocab logit element at that path's peak
    sampler_fixed_bytes: int  # buffers of that path that do not grow with the logits
    defaults_basis: str
    source: str
    mrv2_families: tuple[str, ...] = ()  # families Model Runner V2 is the default runner for (0.22 to 0.27)
    mrv2_dense: bool = False  # 0.25 to 0.27: MRV2 for every model without MoE layers
    mrv2_quantized: bool = False  # 0.24 to 0.27: quantized checkpoints too (before: the V1 runner)
    runner: str = "v1"  # v1 | v2: the model runner whose profile run applies (with_model_runner)
    mxfp4_value_align: int = 0  # 0.17+: Hopper MXFP4 expert values padded to this multiple per dim (0: packs only)
    mrv2_states_counted: bool = False  # 0.27+: the pool counts MRV2's sampler states (vllm_mrv2.sampler_state_bytes)
    mrv2_sampler: str = "mrv2"  # the sampler_bytes row of MRV2's dummy sampler run (0.26+: mrv2_logits)
    load_max_split_mib: int = 0  # 0.21+: the load runs under max_split_size_mb (vllm_load; 0: unlimited)
    compile_benchmarks: bool = False  # 0.19+: a cold compile benchmarks Inductor's combo kernels (vllm_compile)


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.10.1.post1"`` → ``(0, 10, 1)``; a clear error for anything else."""
    m = re.fullmatch(r"\s*v?(\d{1,4})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?(?:[.+\-]?[A-Za-z0-9.+\-]{0,40})?\s*", text)
    if m is None:
        raise ConfigError(f"vllm_version {text!r} is not a version such as 0.10.1 or 0.8; give the version "
                          "`vllm --version` prints")
    return tuple(int(g) for g in m.groups() if g is not None)


def nvml_total_bytes(device: Device) -> int:
    """What NVML (nvidia-smi) reports as the device's total: the logged figure, else the nominal size."""
    if device.smi_total_mib:
        return device.smi_total_mib * 2**20
    return max(device.memory_bytes, device.capacity_bytes)


def default_device() -> Device:
    return get_device(str(overhead_data()["vllm"]["default_device"]))


def _profile_row(version: str) -> dict[str, Any]:
    """Every profile row up to ``version``, oldest first, each overriding the fields it names; ``source`` joins
    the sources of the rows that apply."""
    rows = overhead_data()["vllm"]["profile"]
    want = parse_version(version)
    fitting = sorted((r for r in rows if parse_version(str(r["since"])) <= want),
                     key=lambda r: parse_version(str(r["since"])))
    if not fitting:
        oldest = min(str(r["since"]) for r in rows)
        raise ConfigError(f"vllm_version {version!r} is older than memfit's oldest vLLM profile ({oldest}); "
                          f"give --vllm-version {oldest} or newer")
    merged: dict[str, Any] = {}
    for r in fitting:
        merged.update(r)
    start = min(i for i, r in enumerate(fitting) if r.get("engine") == merged["engine"])  # V1 does not cite V0
    merged["source"] = "; ".join(str(r["source"]) for r in fitting[start:])
    return merged


def default_gpu_memory_utilization(version: str | None) -> float:
    """vLLM's ``gpu_memory_utilization`` when none is given: ``CacheConfig``'s default for ``version`` (memfit's default
    profile without one): 0.9 up to 0.19.x, 0.92 from 0.20.0 (the profile rows' ``default_gpu_memory_utilization``)."""
    ver = version or str(overhead_data()["vllm"]["default_version"])
    return float(_profile_row(ver)["default_gpu_memory_utilization"])


def vllm_utilization(wl: Workload) -> float:
    """The workload's vLLM ``gpu_memory_utilization``: the one given, else its version's default."""
    if wl.gpu_memory_utilization is not None:
        return wl.gpu_memory_utilization
    return default_gpu_memory_utilization(wl.vllm_version)


def vllm_profile(version: str | None, device: Device, tp: int, max_model_len: int,
                 max_num_seqs: int | None, max_num_batched_tokens: int | None,
                 sampler: str | None = None) -> EngineProfile:
    """The engine's defaults and reserves; the user's ``max_num_seqs`` / ``max_num_batched_tokens`` and sampler
    backend (``native`` / ``flashinfer``) win."""
    data = overhead_data()["vllm"]
    ver = version or str(data["default_version"])
    row = _profile_row(ver)
    nvml = nvml_total_bytes(device)
    chunked = True
    if row["engine"] == "v0":
        seqs = int(row["max_num_seqs"])
        chunked = max_model_len > int(row["chunked_above"])
        tokens = int(row["chunked_tokens"]) if chunked else max(max_model_len, 2048)
        basis = (f"V0 defaults: {seqs} sequences; " + (f"chunked prefill (max_model_len above "
                 f"{int(row['chunked_above']):,}) with {tokens} tokens per step" if chunked else
                 f"no chunked prefill: one step holds max(max_model_len, 2048) = {tokens:,} tokens"))
    else:
        tier = "small"
        if "a100" not in device.name.lower() and nvml >= float(row["large_device_gib"]) * GIB:
            tier = "large"
        if row.get("huge_device_gib") and nvml >= float(row["huge_device_gib"]) * GIB:
            tier = "huge"
        seqs, tokens = int(row[f"{tier}_max_num_seqs"]), int(row[f"{tier}_max_num_batched_tokens"])
        basis = (f"V1 server defaults for {device.name} ({nvml / GIB:.1f} GiB reported, "
                 f"{'an A100, ' if 'a100' in device.name.lower() else ''}{tier} tier): {seqs} sequences, "
                 f"{tokens:,} batched tokens, chunked prefill on")
    path = sampler or str(row["sampler"])
    per_element = data["sampler_bytes"]
    if path not in per_element:
        raise ConfigError(f"vllm_sampler {path!r} is not one of {', '.join(sorted(per_element))}; give the top-k/top-p "
                          "path vLLM's log names ('Using FlashInfer for top-p & top-k sampling' means flashinfer)")
    non_torch = float(row["non_torch_gib"]) + (float(row["non_torch_tp_gib"]) if tp > 1 else 0.0)
    if "non_torch_nvls_gib" in row and device.id in data["nvls_devices"] and tp >= int(row["nvls_min_tp"]):
        non_torch = float(row["non_torch_nvls_gib"])  # NCCL's NVLink SHARP buffers on an NVSwitch part
    return EngineProfile(
        version=ver, since=str(row["since"]), engine=str(row["engine"]),
        max_num_seqs=max_num_seqs or seqs, max_num_batched_tokens=max_num_batched_tokens or tokens,
        chunked_prefill=chunked, non_torch_bytes=round(non_torch * GIB),
        cuda_graph_modes=int(row["cuda_graph_modes"]), cuda_graph_step=int(row.get("cuda_graph_step", 16)),
        graphs_in_budget=bool(row.get("graphs_in_budget", False)), moe_workspace=bool(row.get("moe_workspace", False)),
        sampler=path, sampler_bytes=int(per_element[path]), sampler_fixed_bytes=int(data["sampler_fixed"][path]),
        defaults_basis=basis,
        source=f"{row['source']}; {data['defaults_source']}",
        mrv2_families=tuple(str(f) for f in row.get("mrv2_families", ())),
        mrv2_dense=bool(row.get("mrv2_dense", False)),
        mrv2_quantized=bool(row.get("mrv2_quantized", False)),
        mxfp4_value_align=int(row.get("mxfp4_value_align", 0)),
        mrv2_states_counted=bool(row.get("mrv2_states_counted", False)),
        mrv2_sampler=str(row.get("mrv2_sampler", "mrv2")),
        load_max_split_mib=int(row.get("load_max_split_mib", 0)),
        compile_benchmarks=bool(row.get("compile_benchmarks", False)),
    )


def with_model_runner(prof: EngineProfile, family: str, dense: bool, sampler: str | None = None,
                      quantized: bool = False) -> EngineProfile:
    """The profile under the model runner vLLM picks for this model: Model Runner V2 where it is the default (its
    family in ``mrv2_families``, or a dense model once ``mrv2_dense``; a quantized checkpoint from
    ``mrv2_quantized``), whose profile run samples without top-k/top-p (the row's ``mrv2_sampler``) and reserves no
    CUDA-graph memory (``profile_cudagraph_memory`` returns 0), so the graphs land after the KV cache; else the profile
    unchanged. A sampler path the user names (``native`` / ``flashinfer``: ``VLLM_USE_FLASHINFER_SAMPLER``) is the V1
    runner's top-k/top-p kernel (``TopKTopPSampler``, v1/sample/ops/topk_topp_sampler.py) and does not pick the runner:
    MRV2's ``Sampler.sample`` (v1/worker/gpu/sample/sampler.py) calls ``apply_top_k_top_p`` itself and never builds a
    ``TopKTopPSampler``, and its dummy sampler run skips top-k/top-p, so under MRV2 the named path changes nothing."""
    del sampler  # the V1 runner's kernel only (vllm_profile applies it); kept so callers state what the case named
    chosen = family in prof.mrv2_families or (prof.mrv2_dense and dense)
    if not chosen or (quantized and not prof.mrv2_quantized):
        return prof
    data = overhead_data()["vllm"]
    path = prof.mrv2_sampler
    return replace(prof, runner="v2", sampler=path, sampler_bytes=int(data["sampler_bytes"][path]),
                   sampler_fixed_bytes=int(data["sampler_fixed"][path]), graphs_in_budget=False)
