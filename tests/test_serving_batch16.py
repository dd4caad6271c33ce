"""vLLM batch 16: the blind replacement for the RTX 5090 row moved to development (issue 14), recorded and committed
(commit 'serving data (issue 14, held-out rule)') before memfit scored it, then scored once after the Model Runner V2
sampler fix, which neither row uses (a MoE model: vLLM's V1 runner)."""

from __future__ import annotations

from pathlib import Path

from memfit.serving_cases import score_serving_file

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"

# |error| at the first scoring (2026-12-07), rounded up to 0.01 pp; a case may improve, never grow past it + 0.5 pp.
# Pipeline parallel 4: weights -2.19 % (memfit's first stage 54.48 GiB where the article's table gives 55.70 for the
# GPUs; which stage it quotes is not said) and tokens +1.80 %; nothing tuned on either.
FIRST_16 = {
    "blog-4xrtxpro6000-qwen3-235b-fp8-tp4-v0.27": {"weights": 0.0024, "kv_pool": 0.0014, "kv_tokens": 0.0015,
                                                    "max_concurrency": 0.0011},
    "blog-4xrtxpro6000-qwen3-235b-fp8-pp4-v0.27": {"weights": 0.0219, "kv_pool": 0.0128, "kv_tokens": 0.0180,
                                                    "max_concurrency": 0.0177},
}


def test_batch16_blind_cases_hold_their_first_scoring() -> None:
    results = {r.case: r for r in score_serving_file(FILE)}
    for case, caps in FIRST_16.items():
        assert results[case].split == "heldout", case
        for q, cap in caps.items():
            e = results[case].error(q)
            assert e is not None and abs(e) <= cap + 0.005, (case, q, e)


def test_batch16_tensor_parallel_pool_within_the_issue_bar() -> None:
    # issue 14: every pool within 5 % and none over by more than 3 %; tp 4 on PCIe cards (no NVLS) scored -0.14 %
    e = {r.case: r for r in score_serving_file(FILE)}["blog-4xrtxpro6000-qwen3-235b-fp8-tp4-v0.27"].error("kv_pool")
    assert e is not None and -0.05 <= e <= 0.03
