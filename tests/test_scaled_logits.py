"""Causal-LM heads that scale the logits into a new tensor (transformers_families.SCALED_LOGITS; transformers 5.25
modeling_granite_swa.py GraniteSWAForCausalLM.forward: ``logits = logits / self.config.logits_scaling``), worked by
hand on the development case granite-swa-default-l4 fp16 eager forward (the trace peaks at that ``div``)."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_granite_forward_keeps_two_logits_tensors() -> None:
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "granite-swa-default-l4/fwd-fp16-eager-b2-s1536":
            break
    spec = spec_from_config(r["config"], "granite-swa")
    wl = workload_for_case("forward", dict(r["params"])).validate()
    logits = next(m for m in peak_moments(spec, wl) if m.name == "logits")
    # fp16, b 2 × s 1536 = 3,072 tokens × vocab 100,352: the projection's logits and their scaled copy (588 MiB each)
    assert spec.vocab_size == 100_352
    assert logits.logits == 2 * 3072 * 100_352 * 2
