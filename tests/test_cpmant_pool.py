"""CPM-Ant's forward in the inference pool, replayed as transformers 5.25 models/cpmant/modeling_cpmant.py runs it
(memory/runtimes/transformers_pool_cpmant.py; CpmAntModel.forward, _prepare_attention_mask,
CpmAntSegmentPositionEmbedding.forward, CpmAntLayerNorm, CpmAntAttention.forward, CpmAntFFNBlock), checked by hand
on the development case cpmant-default-l2/fwd-fp32-eager-b2-s600 (sweep-dev.jsonl)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_record
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool import _pool
from memfit.memory.runtimes.transformers_pool_cpmant import cpmant_forward
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "cpmant-default-l2/fwd-fp32-eager-b2-s600"
MIB = 2**20


def test_cpmant_forward_replay_segments_by_hand() -> None:
    r = case_record(DEV, CASE)
    spec = spec_from_config(r["config"], "cpmant")
    wl = workload_for_case("forward", dict(r["params"])).validate()
    figures = _pool(spec, wl, 641_929_216 * 4, False)
    assert figures.reserved_after_build == 2482 * MIB == r["reserved_after_build"]
    # the layers run on 600 + 32 prompt tokens: a hidden-sized tensor 2 x 632 x 4,096 x 4 B, a score-sized one
    # 2 x 32 heads x 632 x 632 x 4 B; the logits cover the 600 tokens, 2 x 600 x 30,720 x 4 B
    e, sc, logits = 2 * 632 * 4096 * 4, 2 * 32 * 632 * 632 * 4, 2 * 600 * 30720 * 4
    assert (e, sc, logits) == (20_709_376, 102_252_544, 147_456_000)
    # new segments, each request rounded up to 2 MiB: the input embedding, the segment embedding and their sum
    # (3 x 20 MiB); the position bias's F.embedding output and its .contiguous() copy (2 x 98 MiB); layer 0's norm,
    # q, k and v fill the embedding's freed 98 MiB, so matmul's contiguous copies of q and k^T take 2 x 20 MiB, the
    # scores and their / sqrt(d) 2 x 98 MiB; the logits 142 MiB. The shared path's replay (600 tokens, no bias,
    # no prompt) reached 3,030 MiB
    assert figures.peak_reserved == (2482 + 3 * 20 + 2 * 98 + 2 * 20 + 2 * 98 + 142) * MIB == r["peak_reserved"]


def test_cpmant_forward_bf16_norm_upcast_and_other_tasks() -> None:
    r = case_record(DEV, CASE)
    spec = spec_from_config(r["config"], "cpmant")
    params = {"batch": 1, "seq": 700, "dtype": "bfloat16", "attn": "eager"}
    wl = workload_for_case("forward", params).validate()  # type: ignore[call-overload]
    # bf16, one sequence of 732 tokens: CpmAntLayerNorm's .to(float32), pow and fp32 product (11,993,088 B each)
    # beside the bf16 stream (5,996,544 B); the simulator's trace of this scratch workload (tools/simulate_memory.py
    # validate --trace, torch 2.13.0+cpu, transformers 5.25.0) reserves 1,547,698,176 B (the shared path: 1,564,475,392)
    figures = _pool(spec, wl, 641_929_216 * 2, False)
    assert figures.peak_reserved == 1_547_698_176
    # generate keeps the shared path: nothing is replayed here
    tr = Trace()
    assert not cpmant_forward(tr, spec, replace(wl, task="generate", new_tokens=4), 2)
    assert tr.figures().peak_allocated == 0
