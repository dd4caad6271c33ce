"""The served model's own config: Qwen2.5-7B-Instruct has 32,768 positions where the base Qwen2.5-7B has 131,072.

vLLM keeps each attention layer's rotary cos/sin cache (max_position_embeddings x rotary_dim, in the serving dtype)
inside 'Model loading took', and the Qwen2 layers share one cache (vLLM's get_rope memoises it), so the two configs
differ by (131072 - 32768) x 128 x 2 bytes = 25,165,824 B (24 MiB) in bf16.
"""
from __future__ import annotations

from pathlib import Path

from memfit.estimate import estimate
from memfit.serving_cases import score_serving_file

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"


def test_instruct_rotary_cache_is_24_mib_smaller() -> None:
    base = estimate("qwen2.5-7b", mode="inference", runtime="vllm").component("weights")
    inst = estimate("qwen2.5-7b-instruct", mode="inference", runtime="vllm").component("weights")
    assert base - inst == (131072 - 32768) * 128 * 2


def test_instruct_logs_weights_and_v100_concurrency() -> None:
    results = {r.case: r for r in score_serving_file(FILE)}
    inst = [r for r in results.values() if r.case.startswith("llmdplanner") and "qwen2-5-7b-instruc" in r.case]
    assert len(inst) == 3
    for r in inst:  # tp 1 / 2 / 4 on vLLM 0.19.0: +0.16 / +0.35 / +0.78 % with the base config's rotary cache
        e = r.error("weights")
        assert e is not None and abs(e) <= 0.002, (r.case, e)
    # the V100 eager log (held out): the ratio -3.07 % with the base config, -2.94 % with the served model's
    e = results["notes-v100-32-qwen2.5-7b-fp16-eager-v0.18"].error("max_concurrency")
    assert e is not None and abs(e) <= 0.03, e
