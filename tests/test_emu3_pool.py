"""Emu3's text decoder in the inference pool replay (issue 12, l12total5b): transformers 5.25
models/emu3/modeling_emu3.py builds Llama's layer (``Emu3DecoderLayer``: RMSNorm in fp32 then ``weight *
x.to(dtype)``, ``Emu3Attention`` with separate q/k/v, ``rotate_half`` RoPE, the attention interface, ``reshape
.contiguous()`` and o_proj, ``residual + self.dropout(x)``, a no-op in eval; ``Emu3MLP`` gated SiLU), so the pool
replays it op by op as Llama's. Found on the development case emu3-default-l2/prefill-fp32-b1-s3000 (moved from
blind5.jsonl): fp32 with grouped K/V runs SDPA's math path (two fp32 score-sized blocks at the softmax), which the
lumped attention transient replayed as one block, opening a 2,460 MiB segment per layer (device total +9.74 %)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _simulated import case_errors
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool import _layer
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_math_path_peak_by_hand() -> None:
    """fp32, b1 s128, hidden 256, 4 heads of 64 over 2 K/V heads: n = 128·256·4 = 131,072 B (the hidden states and
    q), K and V n/2 each, scores 4·128·128·4 = 262,144 B, the causal bias 128·128·4 = 65,536 B. At the softmax: the
    layer's input, the normed input, the rotated q, the cache's K and V, the scaled q, the bias, K and V repeated to
    every head, the scores and the softmax's output: 7n + 65,536 + 2·262,144 = 1,507,328 B (the old lumped replay:
    1,376,256)."""
    spec = spec_from_config(
        dict(
            model_type="emu3",
            hidden_size=256,
            intermediate_size=512,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=1000,
        )
    )
    wl = Workload(mode="inference", task="prefill", batch=1, context=128, attn="sdpa", dtype="float32").validate()
    n = 128 * 256 * 4
    tr = Trace()
    stream = tr.alloc(n)
    _layer(tr, spec, wl, 0, 128, 4, n, False, stream, stream)
    assert tr.pool.peak_allocated == 7 * n + 65_536 + 2 * 262_144 == 1_507_328


@pytest.mark.parametrize(
    "case",
    [
        "emu3-default-l2/prefill-fp32-b1-s3000",  # was +9.74 % (the lumped attention)
        "emu3-default-l2/prefill-fp32-b2-s1700",  # was +6.42 % (then the query's copy at b > 1)
    ],
)
def test_development_cases_against_the_simulator(case: str) -> None:
    allocated, total = case_errors(CASES, case)
    assert abs(allocated) < 0.001
    assert abs(total) < 0.005
