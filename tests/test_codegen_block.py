"""CodeGen's parallel block in the inference pool replay (issue 12, l12sweep2; transformers_pool_parallel.py, from
transformers 5.25 modeling_codegen.py and the simulator's trace of the development case
codegen-default-l3/fwd-fp16-b2-s1536 in sweep-dev.jsonl, device total -6.70 % before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_parallel import codegen_block
from memfit.sources.hf_config import spec_from_config
from memfit.validate import _predict, measured_total, prior_bytes
from memfit.workload import Workload

CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CODEGEN = {"model_type": "codegen", "n_embd": 256, "n_layer": 1, "n_head": 4, "rotary_dim": 16, "vocab_size": 1000,
           "n_positions": 2048, "activation_function": "gelu_new", "tie_word_embeddings": False}


@pytest.mark.parametrize("inner", [1024, 256])
def test_block_peak_by_hand(inner: int) -> None:
    """b2 s16 fp16 (t = 32 tokens, n = t·h·2 = 16,384 B). The attention's widest point, when the query's fp16 cast is
    made: the block's input, ln_1, qkv (3n), the three reshaped copies (3n), both rotated parts (fp32, t·4 heads·16
    features·4 B each), both fp32 concatenations (2n each) and the cast (n): 13n + 2·8,192. The MLP's: the input,
    ln_1, out_proj's output and four intermediate-sized tensors (t·inner·2 B each): 3n + 4·t·inner·2."""
    spec = spec_from_config(dict(CODEGEN, n_inner=inner), "codegen-tiny")
    wl = Workload(mode="inference", task="forward", batch=2, context=16, dtype="float16").validate()
    t, n = 32, 32 * 256 * 2
    tr = Trace()
    stream = tr.alloc(n)
    new, kv_keys = codegen_block(tr, spec, wl, 0, t, 2, 0, stream, 0)
    assert tr.pool.peak_allocated == max(13 * n + 2 * 8192, 3 * n + 4 * t * inner * 2)
    assert tr.pool.allocated == n and not kv_keys  # only the new residual is left
    tr.free(new)


def test_development_case_against_the_simulator() -> None:
    rec = next(r for r in map(json.loads, CASES.read_text().splitlines()) if r.get("model") == "codegen-default-l3")
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    assert abs(allocated / rec["peak_alloc"] - 1) < 0.005
    assert abs(total / measured - 1) < 0.005  # was -6.70 %
