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
# (memfit 95,632; the same notes' later start printed 95,936: most likely a cold-compile first start, not priced).
MOVED_14 = {"notes-rtx5090-qwen3-8b-v0.24-util0.92": {"weights": 0.0002, "kv_tokens": 0.0740}}
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
