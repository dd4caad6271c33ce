"""Shared readers for the simulated-case test files (tests/data/simulated/*.jsonl)."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.training import model_states, pool
from memfit.spec import ModelSpec
from memfit.validate import _predict, measured_total, prior_bytes, validate_file, with_env, workload_for_case


def records(path: Path) -> list[dict[str, object]]:
    """Every JSON line of a case file: the env line first, then the cases."""
    with path.open() as f:
        return [json.loads(line) for line in f if line.strip()]


def relative_errors(path: Path) -> list[tuple[str, float]]:
    """(case, memfit's relative error) for every case of the file, in file order; every case must be predicted."""
    rows, _summary = validate_file(path)
    out = []
    for r in rows:
        assert r.relative_error is not None, f"{r.case}: not predicted ({r.note})"
        out.append((r.case, r.relative_error))
    return out


def case_errors(path: Path, case: str) -> tuple[float, float]:
    """One simulated case's (allocated, device total) relative errors, as ``memfit validate`` scores them (with what
    the file's env line states: its PEFT and torch)."""
    env = next((dict(r["env"]) for r in records(path) if isinstance(r.get("env"), dict)), {})
    rec = with_env(case_record(path, case), env)
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    return allocated / rec["peak_alloc"] - 1, total / measured - 1


def case_record(path: Path, case: str) -> dict[str, Any]:
    """One case's record (its JSON line, parsed) from a case file."""
    rec: dict[str, Any] = next(r for r in records(path) if r.get("case") == case)
    return rec


def case_line(path: Path, case: str) -> str:
    """The JSON line of one case of a case file."""
    return next(line for line in path.read_text().splitlines() if f'"{case}"' in line)


def validate_line(line: str) -> Any:
    """``memfit validate`` on one case line alone: its single result row."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "case.jsonl"
        path.write_text(line + "\n")
        results, _ = validate_file(path)
    (row,) = results
    return row


def meta_bf16_build(config: dict[str, Any] | Any, model_class: str | None = None) -> tuple[int, int]:
    """(parameters, bytes) of transformers' own bf16 build of ``config`` on the meta device, as ``from_pretrained``
    loads it: every parameter in the dtype its constructor built it (a module built in float32 stays so:
    core_model_loading.py keeps ``empty_param.dtype``), those the model's dtype plan names in float32
    (modeling_utils.py ``_get_dtype_plan``: ``_keep_in_fp32_modules_strict``, matched by core_model_loading.py's
    ``build_glob_alternation``). A dict or a config object; the model class as memfit's own meta build picks it
    (``_meta_oracle.MULTIMODAL``, else the causal LM, else the image-text-to-text model)."""
    import pytest

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from transformers.core_model_loading import build_glob_alternation

    from _meta_oracle import MULTIMODAL

    conf = transformers.AutoConfig.for_model(**config) if isinstance(config, dict) else config
    model_class = model_class or MULTIMODAL.get(conf.model_type)
    with torch.device("meta"):
        if model_class is not None:
            model = getattr(transformers, model_class)._from_config(conf, dtype=torch.bfloat16)
        else:
            try:
                model = transformers.AutoModelForCausalLM.from_config(conf, dtype=torch.bfloat16)
            except ValueError:  # no causal LM for this config class
                model = transformers.AutoModelForImageTextToText.from_config(conf, dtype=torch.bfloat16)
    plan = model._get_dtype_plan(torch.bfloat16)
    fp32 = build_glob_alternation(list(plan))[0] if plan else None
    params = dict(model.named_parameters())  # a tied weight once
    nbytes = sum(
        p.numel() * (4 if fp32 is not None and fp32.search(name) else p.element_size()) for name, p in params.items()
    )
    return sum(p.numel() for p in params.values()), nbytes


def training_pool_requests(monkeypatch: pytest.MonkeyPatch, spec: ModelSpec, record: dict[str, Any]) -> Counter[int]:
    """How many times memfit's training pool asks the allocator for each size, for ``spec`` at the workload of the
    case ``record`` (its kind and params)."""
    wl = workload_for_case(str(record["kind"]), dict(record["params"])).validate()
    states = model_states(spec, wl)
    acts = model_activations(spec, replace(states.precision, kv_cache=True), wl.batch, wl.context)
    asked = counting_allocs(monkeypatch)
    pool.training_pool(spec, wl, states, acts)
    return asked


def counting_allocs(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """From now on (for the test), how many times memfit's allocator replays are asked for each size (Trace.alloc
    counted, then run as before)."""
    asked: Counter[int] = Counter()
    alloc = Trace.alloc

    def counting(tr: Trace, nbytes: int) -> int:
        asked[nbytes] += 1
        return alloc(tr, nbytes)

    monkeypatch.setattr(Trace, "alloc", counting)
    return asked
