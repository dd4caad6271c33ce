"""``memfit estimate MODEL``: the breakdown table, ``--json`` or ``--explain``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..estimate import estimate
from ..memory.weights import weights_component
from ..result import Estimate
from ..sources.loader import load_model
from ..units import fmt_bytes, fmt_count
from .workload_options import workload_options

WEIGHT_TABLE_DTYPES = ("float32", "bfloat16", "fp8", "int8", "nf4", "q4_k_m")


@click.command("estimate")
@click.argument("model")
@workload_options
@click.option("--gpu", "-g", default=None,
              help="Device (memfit gpus; the name nvidia-smi prints; 'auto' detects it): vLLM and SGLang plan for it "
                   "and the verdict follows it.")
@click.option("--memory", "-m", default=None, help="Override the device's capacity, e.g. 24GiB or 80GB.")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object (the binding contract).")
@click.option("--explain", is_flag=True, help="Show the arithmetic behind every number.")
def estimate_cmd(model: str, gpu: str | None, memory: str | None, json_: bool, explain: bool,
                 **options: Any) -> None:
    """Estimate the memory MODEL needs.

    MODEL is a catalog id (memfit models), a config.json or a folder holding one, a Hugging Face
    repo id (org/name[@revision]), a safetensors or GGUF file, or a parameter count such as 7B.
    """
    from dataclasses import replace

    from .given import workload_meant

    device = None
    if gpu is not None or memory is not None:
        from ..hardware import get_device

        device = get_device(gpu or "cpu", memory=memory)
    wl, implied = workload_meant(options, device=device)
    spec = load_model(model)
    est = estimate(spec, wl, device=device)
    if implied:
        est = replace(est, notes=(*implied, *est.notes))
    verdict = None
    if device is not None:
        from ..fit import fit_estimate

        verdict = fit_estimate(est, device, wl)
    weights_table = wl.mode == "weights" and options.get("dtype") is None
    if json_:
        doc = est.to_json()
        if weights_table:
            doc["weights_by_dtype"] = {d: weights_component(spec, d).bytes for d in _table_dtypes(est.dtype)}
        if verdict is not None:
            doc["device"] = {"id": verdict.device.id, "name": verdict.device.name,
                             "capacity_bytes": verdict.device.capacity_bytes,
                             "capacity_basis": verdict.device.capacity_basis}
            doc["fit"] = {"fits": verdict.fits, "capacity_bytes": verdict.capacity_bytes,
                          "headroom_bytes": verdict.headroom_bytes, "per_gpu_bytes": list(verdict.per_gpu_bytes),
                          "summary": verdict.summary()}
        click.echo(json.dumps(doc, indent=2))
        return
    _render(est, est.dtype if weights_table else None, spec, explain)
    if verdict is not None:
        click.echo(("FITS: " if verdict.fits else "DOES NOT FIT: ") + verdict.summary())


def _table_dtypes(config_dtype: str) -> list[str]:
    """The config's own dtype first, then the table's formats that differ from it (fp16 and bf16 count once)."""
    from ..errors import MemfitError
    from ..formats import get_format

    def canonical(d: str) -> str:
        try:
            return get_format(d).name
        except MemfitError:
            return d

    seen = {canonical(config_dtype)}
    if "float16" in seen:
        seen.add("bfloat16")
    out = [config_dtype]
    for d in WEIGHT_TABLE_DTYPES:
        if canonical(d) not in seen:
            seen.add(canonical(d))
            out.append(d)
    return out


def _render(est: Estimate, table_for: str | None, spec: Any, explain: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    pc = est.parameters
    head = f"[bold]{est.model}[/bold]: {fmt_count(pc.total)} parameters"
    if "rule_of_thumb" in est.details:  # a bare count under inference: say whose architecture was borrowed
        head = (f"[bold]a bare count[/bold]: {fmt_count(pc.total)} parameters — [bold]rule of thumb[/bold]: KV cache, "
                f"activations and buffers of {est.details['rule_of_thumb']['model']} (the catalog's nearest plain "
                "dense architecture); a catalog id or a config.json gives the real estimate")
    elif spec.is_bare:  # the model's name is the count itself: say what it is instead of repeating it
        head = (f"[bold]a bare count[/bold]: {fmt_count(pc.total)} parameters (weights only; a catalog id or a "
                "config.json adds the KV cache, activations and training memory)")
    if pc.active != pc.total:
        head += f", {fmt_count(pc.active)} active per token"
    console.print(head)
    if pc.by_group and not spec.is_bare:
        t = Table(title="Parameters")
        t.add_column("group")
        t.add_column("parameters", justify="right")
        t.add_column("share", justify="right")
        for g, n in pc.by_group.items():
            t.add_row(g, f"{n:,}", f"{100 * n / pc.total:.1f} %")
        console.print(t)
    if table_for is not None:
        t = Table(title="Weights memory by precision")
        t.add_column("precision")
        t.add_column("bytes", justify="right")
        t.add_column("GB", justify="right")
        t.add_column("GiB", justify="right")
        for d in _table_dtypes(table_for):
            nbytes = weights_component(spec, d).bytes
            label = d
            if d == table_for:
                if spec.stored is not None:
                    label = f"as stored ({spec.stored.quantization or spec.stored.container})"
                else:
                    label += " (checkpoint)" if spec.quantization else " (config)"
            t.add_row(label, f"{nbytes:,}", f"{nbytes / 1e9:,.2f} GB",
                      f"{nbytes / 1024**3:,.2f} GiB")
        console.print(t)
    else:
        rot = " — rule of thumb (a bare count)" if "rule_of_thumb" in est.details else ""
        t = Table(title=f"Memory: {est.mode}, {est.dtype}{_device_title(est)}{rot}")
        t.add_column("component")
        t.add_column("bytes", justify="right")
        t.add_column("size", justify="right")
        for c in est.components:
            t.add_row(c.name + ("" if c.on_device else " (host RAM)"), f"{c.bytes:,}", fmt_bytes(c.bytes))
        t.add_row("[bold]total (device)[/bold]", f"[bold]{est.total_bytes:,}[/bold]",
                  f"[bold]{fmt_bytes(est.total_bytes)}[/bold]")
        console.print(t)
    for line in engine_lines(est):
        console.print(line, markup=False, highlight=False)
    for note in est.notes:
        console.print(f"note: {note}")
    if explain:
        for line in est.explain():
            console.print(line, markup=False, highlight=False)


def _device_title(est: Estimate) -> str:
    d = est.details
    if "device_name" not in d:
        return ""
    cap = fmt_bytes(int(d["device_total_bytes"])).split(" (")[-1].rstrip(")")
    assumed = ", assumed: pass --gpu" if d.get("device_assumed") else ""
    return f" on {d['device_name']} ({cap} as CUDA reports it{assumed})"


def engine_lines(est: Estimate) -> list[str]:
    """What vLLM / SGLang print at start-up, as they print it."""
    d = est.details
    if d.get("runtime") == "vllm":
        return [f"device budgeted: {d['device_name']}, {d['requested_bytes'] / 2**30:.2f} GiB "
                f"(gpu_memory_utilization × {d['device_total_bytes'] / 2**30:.2f} GiB)",
                f"Available KV cache memory: {d['kv_pool_bytes'] / 2**30:.2f} GiB",
                f"# GPU blocks: {d['num_gpu_blocks']:,}",
                f"GPU KV cache size: {d['kv_cache_tokens']:,} tokens",
                f"Maximum concurrency for {d['max_model_len']:,} tokens per request: {d['max_concurrency']:.2f}x"]
    if d.get("runtime") == "sglang":
        return [f"device budgeted: {d['device_name']}, mem_fraction_static = {d['mem_fraction_static']:g} of "
                f"{d['free_at_start_bytes'] / 2**30:.2f} GiB free",
                f"KV Cache is allocated. #tokens: {d['kv_cache_tokens']:,}, K size: "
                f"{d['kv_pool_bytes'] / 2 / 2**30:.2f} GB, V size: {d['kv_pool_bytes'] / 2 / 2**30:.2f} GB",
                f"max_total_num_tokens={d['kv_cache_tokens']}",
                f"Maximum concurrency for {d['max_model_len']:,} tokens per request: {d['max_concurrency']:.2f}x"]
    if d.get("runtime") == "llamacpp" and "gguf_file_bytes" in d:
        missing = d.get("gguf_file_not_counted") or []
        return [f"GGUF file on disk: {d['gguf_file_bytes']:,} bytes ({fmt_bytes(int(d['gguf_file_bytes']))})"
                + ("" if not missing else "; not counted: " + "; ".join(str(m) for m in missing))]
    return []
