"""vLLM batch 14: blind held-out start-ups for the weights bar of issue 14, recorded and committed (the commit
'serving data: vLLM batch 14') before they were scored (tests/data/serving/README.md)."""

from __future__ import annotations

from pathlib import Path

from memfit.serving_cases import score_serving_file

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"

# |error| of each quantity at the first scoring (2026-12-07, rounded up to 0.01 pp); a case may improve, never grow
# past it + 0.5 pp. The RTX 5090 row (weights -0.01 %, tokens -9.94 % at its first scoring) moved to development on
# 2026-12-07 (its `moved_to_dev`): its sampler field exposed with_model_runner sending Model Runner V2 back to the V1
# profile; its blind replacement is vLLM batch 16 (tests/test_serving_batch16.py). After the fix its tokens are +7.40 %
# (memfit 95,632; the same notes' later start printed 95,936), +7.10 % with the RTX 5090's measured 31.36 GiB; since
# l14serve2 (2026-12-07) the row is a cold torch.compile start from its source (the first start with the environment
# its first, failed attempt lacked; VLLM_USE_FLASHINFER_SAMPLER is one of vLLM 0.24.0's compile-cache key factors,
# envs.compile_factors): -0.58 %.
MOVED_14 = {"notes-rtx5090-qwen3-8b-v0.24-util0.92": {"weights": 0.0002, "kv_tokens": 0.0058}}
FIRST_14 = {
    "vllm17327-4xa10-qwen3-30b-a3b-tp4-v0.8.5": {"weights": 0.0014},
    "blog-a100-80-gemma-4-26b-a4b-eager-util0.9": {"weights": 0.0007, "kv_pool": 0.0087},
}


def test_batch14_blind_cases_hold_their_first_scoring() -> None:
    results = {r.case: r for r in score_serving_file(FILE)}
    for case, caps in FIRST_14.items():
        assert results[case].split == "heldout", case
        for q, cap in caps.items():
            e = results[case].error(q)
            assert e is not None and abs(e) <= cap + 0.005, (case, q, e)


def test_batch14_moved_row_holds_its_development_figures() -> None:
    results = {r.case: r for r in score_serving_file(FILE)}
    for case, caps in MOVED_14.items():
        assert results[case].split == "dev", case
        for q, cap in caps.items():
            e = results[case].error(q)
            assert e is not None and abs(e) <= cap + 0.005, (case, q, e)


def test_batch14_weights_are_within_the_issue_bar() -> None:
    # issue 14: served weights within 0.5 % of the engine's printed figure, on logs not used for tuning
    results = {r.case: r for r in score_serving_file(FILE)}
    for case in [*FIRST_14, *MOVED_14]:
        e = results[case].error("weights")
        assert e is not None and abs(e) <= 0.005, (case, e)


def test_rtx5090_first_start_is_priced_cold() -> None:
    # The notes' STEP 1 start is the first with VLLM_USE_FLASHINFER_SAMPLER=0 (its first attempt failed without it), so
    # Inductor compiles inside the profile run: the peak is its benchmark of the embedding gather, 151,936 x 4,096 x 2 B
    # of table + 2,048 x 8 B of ids + 2,048 x 4,096 x 2 B of rows = 1,261,453,312 B, where the warm start's peak is the
    # MRV2 dummy sampler's 256 x 151,936 x 6 B + 20,971,520 B of hidden states = 254,345,216 B. The pool falls by the
    # difference, 1,007,108,096 B, and the tokens to whole 16-token blocks of 16 x 147,456 B.
    import json

    from memfit.estimate import estimate
    from memfit.hardware import get_device

    row = next(
        json.loads(line)
        for line in FILE.read_text().splitlines()
        if json.loads(line)["case"] == "notes-rtx5090-qwen3-8b-v0.24-util0.92"
    )
    assert row["compile_cache"] == "cold"
    opts = {
        "mode": "inference",
        "runtime": "vllm",
        "context": 32768,
        "gpu_memory_utilization": 0.92,
        "vllm_version": "0.24.0",
        "vllm_sampler": "native",
    }
    warm = estimate("qwen3-8b", device=get_device("rtx-5090"), vllm_compile_cache="warm", **opts).details
    cold = estimate("qwen3-8b", device=get_device("rtx-5090"), vllm_compile_cache="cold", **opts).details
    assert int(warm["kv_pool_bytes"]) - int(cold["kv_pool_bytes"]) == 1_261_453_312 - 254_345_216
    assert cold["kv_cache_tokens"] == int(cold["kv_pool_bytes"]) // (16 * 147_456) * 16 == 88_528
    result = next(r for r in score_serving_file(FILE) if r.case == row["case"])
    e = result.error("kv_tokens")
    assert e is not None and abs(e) <= 0.006, e  # 88,528 against the printed 89,040
