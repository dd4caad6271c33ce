"""``memfit plan MODEL --gpu NAME``: the inverse questions, each answered by searching real estimates."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..advisor import Advice, AdviceRow, advise
from ..errors import ConfigError, MemfitError
from ..estimate import runnable_workload
from ..hardware import get_device
from ..plan import PlanAnswer, plan_batch, plan_context, plan_gpu_layers, plan_gpus
from ..sources.loader import load_model
from ..speed import SpeedBound, decode_ceiling
from ..units import fmt_bytes, parse_bytes
from .given import size_notes, workload_meant
from .workload_options import workload_options

QUESTIONS = ("context", "batch", "gpus", "layers", "quant", "speed")


@click.command("plan")
@click.argument("model")
@click.option("--gpu", "-g", default=None, help="Device name or alias (memfit gpus).")
@click.option("--memory", "-m", default=None, help="Override the device's capacity, e.g. 24GiB.")
@click.option("--host-memory", default=None, metavar="SIZE",
              help="Host RAM per GPU for ZeRO-Offload, e.g. 256GB (judged when given; plan -q gpus searches "
                   "offload only with it).")
@click.option("--budget", default=None, help="A memory budget instead of a GPU (quantization advisor only).")
@click.option("--question", "-q", "questions", multiple=True, type=click.Choice(QUESTIONS),
              help="Which questions (repeatable). Default: those that apply to the mode and runtime.")
@click.option("--formats", default=None, help="Comma-separated formats for the advisor (default: a broad set).")
@click.option("--limit", type=int, default=None, help="Search limit (context tokens, batch, or GPUs).")
@workload_options
@click.option("json_", "--json", is_flag=True, help="Print one JSON object.")
def plan_cmd(model: str, gpu: str | None, memory: str | None, host_memory: str | None, budget: str | None,
             questions: tuple[str, ...], formats: str | None, limit: int | None, json_: bool, **options: Any) -> None:
    """Longest context, largest batch, fewest GPUs and layout, llama.cpp GPU layers, the formats that fit
    ranked by published quality cost, and the decode speed ceiling."""
    device = get_device(gpu, memory=memory, host_memory=host_memory) if gpu is not None else None
    wl, implied = workload_meant(options, judge=True, device=device)
    size_notes(memory=memory, budget=budget, host_memory=host_memory)
    spec = load_model(model)
    wl = runnable_workload(spec, wl)  # a runtime that cannot run this refuses once, with the fix
    if gpu is None and budget is None:
        raise ConfigError("give --gpu NAME (or --budget SIZE for the quantization advisor)")
    if formats is not None and not any(f.strip() for f in formats.split(",")):
        raise ConfigError(f"--formats {formats!r} names no format: write e.g. --formats q4_k_m,nf4,fp8")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit {limit} must be at least 1 (the search's upper end: tokens, sequences or GPUs)")
    if budget is not None and parse_bytes(budget) <= 0:
        raise ConfigError(f"--budget {budget!r} must be a positive size such as 24GB")
    if not questions:
        if gpu is None:
            questions = ("quant",)
        else:
            qs = ["context", "batch"] if wl.mode != "weights" else []
            qs.append("gpus")
            if wl.mode == "inference" and wl.runtime == "llamacpp":
                qs.append("layers")
            qs += ["quant"] if wl.mode in ("weights", "inference") else []
            qs += ["speed"] if wl.mode in ("weights", "inference") else []
            questions = tuple(qs)
    if gpu is None and set(questions) - {"quant"}:
        raise ConfigError("--budget answers only the quant question; give --gpu for the others")
    out: dict[str, Any] = {"model": spec.name, "device": None if device is None else device.id,
                           "mode": wl.mode, "runtime": wl.runtime if wl.mode == "inference" else None,
                           "notes": list(implied), "answers": {}}
    texts: list[str] = [f"note: {n}" for n in implied]
    for q in questions:
        try:
            if q == "quant":
                fmts = tuple(f.strip() for f in formats.split(",") if f.strip()) if formats else None
                adv = advise(spec, device, wl, budget=budget if device is None else None, formats=fmts)
                out["answers"]["quant"] = adv.to_json()
                texts.append(_advice_text(adv))
                continue
            assert device is not None
            if q == "speed":
                sb = decode_ceiling(spec, device, wl)
                out["answers"]["speed"] = sb.to_json()
                texts.append(_speed_text(sb))
                continue
            ans: PlanAnswer
            if q == "context":
                ans = plan_context(spec, device, wl, limit=limit)
            elif q == "batch":
                ans = plan_batch(spec, device, wl, limit=limit)
            elif q == "gpus":
                ans = plan_gpus(spec, device, wl, limit=limit) if limit else plan_gpus(spec, device, wl)
            else:
                ans = plan_gpu_layers(spec, device, wl)
            out["answers"][ans.question] = ans.to_json()
            texts.append(_answer_text(ans))
        except (MemfitError, ModuleNotFoundError) as e:  # a mode whose model is not built yet
            out["answers"][q] = {"error": str(e)}
            texts.append(f"{q}: cannot answer: {e}")
    failed = all("error" in a for a in out["answers"].values())  # nothing answered: exit 2 like any bad input
    if json_:
        click.echo(json.dumps(out, indent=2))
        if failed:
            sys.exit(2)
        return
    head = f"{spec.name} on {device.name if device else 'a ' + str(budget) + ' budget'}"
    if device is not None:
        head += f" ({fmt_bytes(device.capacity_bytes)} usable)"
    click.echo(head)
    for t in texts:
        click.echo(t)
    if failed:
        sys.exit(2)


def _answer_text(a: PlanAnswer) -> str:
    label = {"max_context": "longest context", "max_batch": "largest batch", "min_gpus": "fewest GPUs",
             "gpu_layers": "llama.cpp GPU layers (-ngl)"}.get(a.question, a.question)
    line = f"{label}: {'none' if a.value is None else f'{a.value:,}'} — {a.explanation}"
    if a.question == "gpu_layers" and "host_bytes" in a.extra:
        line += f"; host RAM for the rest: {fmt_bytes(a.extra['host_bytes'])}"
    if a.capped:
        line += " (search limit reached)"
    return line


def _advice_text(adv: Advice) -> str:
    rec = adv.recommended
    lines = [f"formats that fit, best first (recommended: {rec.format if rec else 'none with a measurement'}):"]
    lines += [f"  ({n})" for n in adv.notes]
    for r in adv.fitting:
        flag = "" if r.dtype_check is None or r.dtype_check.native is not False else " [not native]"
        lines.append(f"  {r.format:<10} {fmt_bytes(r.per_gpu_bytes):>26}  {_quality_short(r)}{flag}")
    miss = [r.format for r in adv.rows if not r.fits and not r.error]
    if miss:
        lines.append(f"  do not fit: {', '.join(miss)}")
    errors: dict[str, list[str]] = {}  # formats memfit could not estimate here, grouped by the reason
    for r in adv.rows:
        if r.error:
            errors.setdefault(r.error, []).append(r.format)
    for why, names in errors.items():
        lines.append(f"  cannot estimate {', '.join(names)}: {why}")
    return "\n".join(lines)


def _quality_short(r: AdviceRow) -> str:
    if r.quality_pct is None:
        return "no published measurement"
    if r.quality_pct == 0 and not r.measurements:
        return "unquantized (reference)"
    m = next((m for m in r.measurements if m.relative_pct is not None and f"{m.relative_pct:.2f}" ==
              f"{r.quality_pct:.2f}"), None)
    if m is None:
        return "unquantized (reference)" if r.quality_pct == 0 else f"+{r.quality_pct:.2f} % PPL"
    kld = f", KLD {m.kld}" if m.kld is not None else ""
    rank = "" if r.compared_on is not None else " (another model: not ranked)"
    return (f"+{r.quality_pct:.2f} % PPL on {m.model}{' (imatrix)' if m.imatrix else ''}{kld}{rank} "
            f"[{m.source.split(' ')[0]}]")


def _speed_text(sb: SpeedBound) -> str:
    return f"decode speed ceiling: {sb.formula}"
