"""GPTBigCode's block in the inference pool replay (issue 12, l12sweep4; transformers_pool_gpt2.py, from transformers
5.25 modeling_gpt_bigcode.py and the simulator's trace of the development case
gpt-bigcode-default-l4/prefill-fp16-b4-s2048 in sweep-dev.jsonl, device total -4.48 % before)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_gpt2 import gpt2_block
from memfit.validate import _predict, measured_total, prior_bytes
from memfit.workload import Workload

CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


@pytest.mark.parametrize(("inner", "task"), [(256, "forward"), (256, "prefill"), (1024, "forward"),
                                             (1024, "prefill")])
def test_multi_query_block_peak_by_hand(inner: int, task: str) -> None:
    """b2 s16 fp16, h 256, four heads of 64 and one K/V head (t = 32 tokens, n = t·h·2 = 16,384 B). c_attn is one
    tensor of 256 + 2·64 features (1.5n); the cache's K and V t·64·2 B each (0.5n together). The attention's widest
    point, at c_proj: the input, ln_1, c_attn, K and V, the kernel's output and c_proj's: 5.5n (+0.5n with a cache).
    The MLP's, at gelu_pytorch_tanh (one kernel): the input, c_proj's held output, the residual sum, ln_2, c_fc and
    the activation: 4n + 2·t·inner·2 (+0.5n); at the new residual (the input, c_proj's held output, the sum, ln_2,
    the MLP's output and the new one): 6n (+0.5n)."""
    wl = Workload(mode="inference", task=task, batch=2, context=16, dtype="float16").validate()
    t, n, i = 32, 32 * 256 * 2, 32 * inner * 2
    cache = n // 2 if task == "prefill" else 0
    tr = Trace()
    stream = tr.alloc(n)
    new, kv_keys = gpt2_block(tr, wl, t, 256, inner, 2, cache, stream, 256 + 2 * 64, False)
    assert tr.pool.peak_allocated == max(5 * n + n // 2, 4 * n + 2 * i, 6 * n) + cache
    assert tr.pool.allocated == n + cache  # the new residual, K and V
    assert len(kv_keys) == (2 if task == "prefill" else 0)
    tr.free(new, *kv_keys)


def test_development_case_against_the_simulator() -> None:
    rec = next(r for r in map(json.loads, CASES.read_text().splitlines()) if r.get("model") == "gpt-bigcode-default-l4")
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    assert abs(allocated / rec["peak_alloc"] - 1) < 0.01  # -0.63 %
    assert abs(total / measured - 1) < 0.01  # was -4.48 %
