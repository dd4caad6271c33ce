"""Persimmon's decoder layer in the inference pool replay (issue 12, l12sweep4; transformers_pool_persimmon.py, from
transformers 5.25 modeling_persimmon.py and the simulator's trace of the development case
persimmon-default-l3/prefill-fp16-b2-s2048 in sweep-dev.jsonl, device total -3.74 % before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_persimmon import persimmon_block
from memfit.sources.hf_config import spec_from_config
from memfit.validate import _predict, measured_total, prior_bytes
from memfit.workload import Workload

CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
PERSIMMON = {"model_type": "persimmon", "hidden_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4,
             "vocab_size": 1000, "hidden_act": "relu2", "qk_layernorm": True, "tie_word_embeddings": False,
             "rope_parameters": {"rope_theta": 10000.0, "partial_rotary_factor": 0.5, "rope_type": "default"}}


@pytest.mark.parametrize(("inner", "task"), [(256, "forward"), (256, "prefill"), (1024, "forward"),
                                             (1024, "prefill")])
def test_block_peak_by_hand(inner: int, task: str) -> None:
    """b2 s16 fp16 (t = 32 tokens, n = t·h·2 = 16,384 B; head_dim 64, 32 rotary features: each rotated part n/2).
    The attention's widest point, when ``dense`` writes its output: the layer's input, input_layernorm (n),
    query_key_value (3n), q_layernorm and k_layernorm (2n), both rotated parts (n), both concatenations (2n), the
    contiguous copy of the kernel's output and dense's (2n): 12n; with a cache, its K and V (2n) in place of the
    concatenated key (n): 13n. The MLP's: the input, the residual sum, post_attention_layernorm and relu²'s three
    intermediate-sized tensors (t·inner·2 B each): 3n + 3·t·inner·2, and the cache's 2n."""
    spec = spec_from_config(dict(PERSIMMON, intermediate_size=inner), "persimmon-tiny")
    wl = Workload(mode="inference", task=task, batch=2, context=16, dtype="float16").validate()
    t, n = 32, 32 * 256 * 2
    kv = 2 * n if task == "prefill" else 0
    tr = Trace()
    stream = tr.alloc(n)
    new, kv_keys = persimmon_block(tr, spec, wl, 0, t, 2, kv, stream, 0)
    cache = 2 * n if task == "prefill" else 0
    assert tr.pool.peak_allocated == max(12 * n + cache // 2, 3 * n + 3 * t * inner * 2 + cache)
    assert tr.pool.allocated == n + cache  # the new residual, K and V (the input, not the embedding, freed)
    assert len(kv_keys) == (2 if task == "prefill" else 0)
    tr.free(new, *kv_keys)


def test_development_case_against_the_simulator() -> None:
    rec = next(r for r in map(json.loads, CASES.read_text().splitlines()) if r.get("model") == "persimmon-default-l3")
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    assert abs(allocated / rec["peak_alloc"] - 1) < 0.005
    assert abs(total / measured - 1) < 0.005  # was -3.74 %
