"""The recorded vLLM start-ups (tests/data/serving/vllm.jsonl): every row sourced, scored by ``memfit validate``.

The thresholds are what the development set holds today (a regression guard); the held-out figures are reported by
``memfit validate tests/data/serving/vllm.jsonl`` and in the data README, not tuned against.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from _cli import run
from memfit.serving_cases import QUANTITIES, score_serving_file, summarize_serving

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"


def test_every_case_is_sourced_and_split() -> None:
    rows = [json.loads(line) for line in FILE.read_text().splitlines() if line.strip()]
    assert len(rows) >= 15
    for r in rows:
        assert r["engine"] in ("vllm", "sglang") and r["split"] in ("dev", "heldout"), r["case"]
        assert r["source"].startswith("https://") or "find_string" in r["source"], r["case"]
        assert r["printed"], r["case"]
    assert sum(r["split"] == "heldout" for r in rows) >= 3


def test_development_set_holds() -> None:
    results = score_serving_file(FILE)
    assert all(not r.note for r in results), [r.note for r in results if r.note]
    dev = [r for r in results if r.split == "dev"]
    pool = [abs(e) for r in dev if (e := r.error("kv_pool")) is not None]
    assert statistics.median(pool) <= 0.02
    weights = [abs(e) for r in dev if (e := r.error("weights")) is not None]
    assert statistics.median(weights) <= 0.005
    # issue 14 asks that no pool be over-predicted by more than 3 %; Qwen3-235B-FP8 on 4 x H100 in vLLM 0.9 (LMCache
    # configured: about 0.36 GiB per GPU of connector buffers memfit does not model, see its row) is not within it;
    # Qwen2.5-72B on 2 x H100 (v0.19.0) keeps a 3.04 GiB pool beside 67.8 GiB of
    # weights, so memfit's 0.09 GiB of weights and 0.03 GiB of activation below the log are +4 % of it
    # (gpt-oss-120b on one H100, +6.7 % before the float32 rotary cache and the swizzled scales' padding, is +2.6 %)
    # Qwen3-32B pp 2 on vLLM 0.27.1 (moved to development with the Model Runner V2 change): its first stage keeps
    # 3.03 GiB beside weights and KV where MRV2's forward (1.41) and non-torch (0.25) give 1.66; a cold compile (a fresh
    # container) adds Inductor's embedding benchmark, 1.53 GiB, 0.12 above the forward: +19.9 -> +18.1 %; its tp 2
    # sibling (the same cold container) is exact, so the remaining 1.25 GiB is not the compile's (not explained)
    known_over = {"vllm21348-4xh100-qwen3-235b-a22b-fp8-tp4": 0.06,
                  "llmdplanner-h100-v0.19-qwen-qwen2-5-72b-instruc--h100-80gb--tp2pp1dp1--8192": 0.045,
                  "blog-2xrtxpro6000-qwen3-32b-pp2-v0.27": 0.19,
                  # the HAMi-limited L40S (batch 17, moved to development): with the cold compile's 0.59 GiB peak
                  # +12.2 -> +6.0 %; 0.42 GiB of its 1.26 beside weights and KV is not named
                  "notes-hami16g-l40s-qwen2.5-3b-v0.27.1-seqs1": 0.065,
                  # Gemma-3-27B (batch 10, moved to development): 0.32 GiB of weights and 0.31 GiB of activation
                  # above memfit's in the log (the image-text model's load and encoder profile), +3.3 % of 19.5 GiB
                  "llmdplanner-h100-v0.19-gemma-3-27b-it": 0.035}
    for r in dev:
        e = r.error("kv_pool")
        assert e is None or e <= known_over.get(r.case, 0.03), (r.case, e)


# Each case's KV-pool error as measured when the sampler term became the sort's bytes (signed, rounded): a case
# may improve, never grow past |error| + 0.5 pp. Held-out cases are guarded the same way; none was tuned on.
POOL_CAPS = {
    "llmd-h100-llama-3.1-8b-16k": +0.001, "llmd-h100-gpt-oss-20b-16k": +0.014, "llmd-h100-qwen3-0.6b-16k": +0.001,
    "llmd-h100-qwen3-0.6b-32k": +0.001, "llmd-h100-qwen3-32b-16k": +0.012, "llmd-h100-llama-3.3-70b-fp8-tp2": +0.002,
    "llmd-h100-gpt-oss-120b-16k": -0.092, "vllm10517-rtx3090-llama-3.1-8b-20k": -0.028,
    "vllm10517-rtx3090-llama-3.1-8b-29k": -0.064, "pr10511-h100-llama-3-8b-tp1": +0.028,
    # (2026-12-07) the AWQ row names the served Qwen2.5-7B-Instruct config (32,768 positions): -4.41 -> -4.12 %;
    # then its source's own vLLM 0.26.0 / RTX 4080 (was 0.11 / RTX 4060 Ti): -4.12 -> +8.59 % (MRV2's profile)
    # then the 0.21+ load's max_split_size_mb:20 (vllm_load: the AWQ Marlin replay, weights -1.78 -> -0.01 %):
    # +8.59 -> +7.42 %; then its first start's cold compile (vllm_compile: the embedding benchmark, 1.03 GiB against
    # the 1.04 printed): +7.42 -> -2.22 % (the log's non-torch 0.06 GiB where memfit has 0.25)
    "vllm15815-l40s-qwen2.5-32b-tp2": -0.035, "wsl-16gib-qwen2.5-7b-awq-32k": -0.023,
    # the RTX 4090 Qwen3-8B cold start (batch 15, moved to development with the cold-compile change): +10.09 -> -9.98 %;
    # the compile's transient is priced (1.175 GiB, 1.18 printed); then (l14serve3) its whole log's total 23.52 GiB and
    # utilization 0.92 (vLLM 0.27.1's default): -9.98 -> -2.61 % (the log's non-torch 0.12 GiB where memfit has 0.25)
    "recon-rtx4090-qwen3-8b-v0.27.1-cold-compile": -0.027,
    # (2026-12-07) the allocator's block remainders made the Qwen2 weights exact (dennis A100 -0.39 -> -0.00 %): the
    # util 0.25 pool, -1.7 % before, is -2.8 % after: the 0.07 GiB its weights had hidden is the profile's
    # (2026-12-07) from vLLM 0.11 NCCL's and the custom all-reduce's buffers precede the worker's snapshot
    # (gpu_worker.py init_device), so the 0.42 GiB TP term is gone off NVSwitch parts: this held-out tp 4 row (the
    # default 0.11 profile) +0.73 -> +2.50 %, scored once after the change, nothing tuned on it
    "g6e-4xl40s-qwen3-coder-30b-a3b-tp4-32k": +0.025, "dennis-a100-80-qwen2-7b-util0.25": -0.029,
    "dennis-a100-80-qwen2-7b-util0.5": -0.003, "dennis-a100-40-qwen2-7b-tp2-util0.5": -0.006,
    "dennis-a100-80-qwen2-7b-tp2-util0.25": -0.008, "dennis-a100-80-qwen2-7b-tp2-util0.5": -0.004,
    # (2026-12-07) the T4 row takes its log's own arguments (192 sequences, utilization 0.89386, V0 0.8.2): -6.0 ->
    # -0.42 %, the sort's 38 B per logit element as on the H100 logs
    "blog-rtx4070-8gb-llama-3.2-3b-q8_0-gguf": -0.104, "notes-t4-llama-3.2-3b-2k": -0.004,
    "notes-24gib-qwen2.5-7b-8k-16seqs": -0.031, "dennis-4xa100-80-gpt-oss-120b-tp4-util0.8": -0.002,
    "vllm21348-4xh100-qwen3-235b-a22b-fp8-tp4": +0.058,
    # Model Runner V2 (vLLM 0.22-0.27): the tp 2 start-up that named it, and batch 7's blind logs at their first
    # scoring with the MRV2 profile (before the float32-config dtype rule: -1.66 / -1.54 %)
    # (2026-12-07) with MRV2's sampler states counted from 0.27 (+0.62 GiB at 1,024 sequences) and no TP term from 0.11
    # (-0.42 GiB): +0.40 -> -1.99 % (the log's 1.66 GiB beside weights and KV against memfit's 1.83)
    "blog-2xrtxpro6000-qwen3-32b-tp2-v0.27": -0.020,
    "notes-wsl-rtx4090-qwen2.5-0.5b-llm-v0.27.1": +0.006,
}


def test_every_case_within_its_cap() -> None:
    results = {r.case: r for r in score_serving_file(FILE)}
    assert set(POOL_CAPS) <= set(results)
    for case, cap in POOL_CAPS.items():
        e = results[case].error("kv_pool")
        assert e is not None and abs(e) <= abs(cap) + 0.005, (case, e, cap)


def test_model_runner_v2_cases_score_blind() -> None:
    # batch 7 (held out, recorded before scoring): vLLM 0.26.0's MRV2 A/B in vllm-project/vllm#50159 (Qwen2.5-0.5B,
    # eager and CUDA graphs); the tokens within 2 % (first scoring -1.66 / -1.54 %, after the dtype rule -0.5 / -0.4 %)
    results = {r.case: r for r in score_serving_file(FILE)}
    for mode in ("eager", "graphs"):
        case = f"vllm50159-rtxpro6000-qwen2.5-0.5b-v0.26-mrv2-{mode}"
        e = results[case].error("kv_tokens")
        assert results[case].split == "heldout" and e is not None and abs(e) <= 0.02, (case, e)
    # batch 9 (held out, recorded before scoring, first scoring kept as the guard): three vLLM 0.27.1 servers on one
    # RTX 4090 under WSL2. Qwen2.5-0.5B +1.9 %; Qwen2.5-7B bf16 +34 % and FP8-dynamic +9.1 % in tokens: the log keeps
    # 2.34 / 1.63 GiB beside weights and KV where memfit names 0.47 / 0.5; not explained (only the token count is
    # quoted for those two runs), not tuned. All three moved to development on 2026-12-07 (compared with the
    # cold-compile mechanism; their compile cache is not stated, so they are priced warm)
    first = {"notes-wsl-rtx4090-qwen2.5-0.5b-serve-v0.27.1-util0.85": 0.0186,
             "notes-wsl-rtx4090-qwen2.5-7b-serve-v0.27.1": 0.3414,
             "notes-wsl-rtx4090-qwen2.5-7b-fp8dyn-serve-v0.27.1": 0.0911}
    for case, was in first.items():
        e = results[case].error("kv_tokens")
        assert results[case].split == "dev" and e is not None and abs(e) <= was + 0.005, (case, e)


def test_sampler_backend_is_an_input_of_the_case() -> None:
    # vLLM 0.10.1.1 logs name the top-k/top-p path: "Using FlashInfer for top-p & top-k sampling" or "FlashInfer is
    # not available. Falling back to the PyTorch-native implementation"; the case carries it as an input
    rows = [json.loads(line) for line in FILE.read_text().splitlines() if line.strip()]
    named = {r["case"]: r["sampler"] for r in rows if "sampler" in r}
    assert named["dennis-a100-40-qwen2-7b-tp2-util0.5"] == "native"
    assert named["dennis-a100-80-qwen2-7b-util0.25"] == "flashinfer"


def test_tokens_and_concurrency_follow_the_pool() -> None:
    # vLLM: tokens = blocks × 16 and concurrency = tokens / max_model_len, so their errors track the pool's; with
    # pipeline parallelism the log prints the first stage's pool while the tokens are the smallest stage's (vLLM gives
    # every worker the fewest blocks; the last stage also holds lm_head and runs the sampler), so they need not
    pp = {r["case"]: int(r.get("pp") or 1) for r in map(json.loads, FILE.read_text().splitlines()) if r}
    for r in score_serving_file(FILE):
        p, t, c = r.error("kv_pool"), r.error("kv_tokens"), r.error("max_concurrency")
        if p is not None and t is not None and pp[r.case] == 1:
            # the printed GiB has two decimals (0.2 % of a 2.38 GiB pool); Qwen3-235B-FP8 prints 1.1 % fewer tokens per
            # GiB than its 94 layers of bf16 K and V give (a divergence kept visible, not absorbed)
            assert abs(p - t) < (0.025 if "235b" in r.case else 0.004), r.case
        if t is not None and c is not None:
            assert abs(t - c) < 0.011, r.case  # the printed ratio has two decimals


def test_sglang_file_scores() -> None:
    results = score_serving_file(FILE.with_name("sglang.jsonl"))
    assert results and all(not r.note for r in results)
    assert all(r.error("kv_tokens") is not None or r.error("weights") is not None for r in results)


def test_validate_cli_scores_the_file(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(["validate", str(FILE), "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert set(doc["summary"]) == {"dev", "heldout"}
    assert all(q in doc["summary"]["dev"] for q in QUANTITIES)
    assert doc["summary"] == json.loads(json.dumps(summarize_serving(score_serving_file(FILE))))


def test_sglang_cases_are_sourced_and_scored() -> None:
    sg = Path(__file__).parent / "data" / "serving" / "sglang.jsonl"
    rows = [json.loads(line) for line in sg.read_text().splitlines() if line.strip()]
    assert len(rows) >= 5 and all(r["engine"] == "sglang" and r["source"] for r in rows)
    results = score_serving_file(sg)
    assert all(not r.note for r in results)
    # weights + the float32 rotary cache + the allocator segments SGLang's parameter tensors occupy (sglang_load),
    # block-FP8 checkpoints laid out too, and NCCL's init on NVSwitch parts before the free memory at start: every
    # start-up within 1 % (Qwen3-235B-FP8 tp 4 on H100 SXMs: +8.2 % before the FP8 layout and the NVSwitch init,
    # +6.6 % with the layout alone, -0.8 % with both)
    for r in results:
        e = r.error("kv_tokens")
        if e is not None:
            assert abs(e) <= 0.01, (r.case, e)


def test_sglang_load_segments_blind() -> None:
    # batch 8 (held out, recorded before scoring): Qwen start-ups' load as SGLang prints it ("mem usage", the fall in
    # free memory). First scoring with the segment rounding: Qwen2.5-0.5B -0.15 % (both logs; -5.3 % without it), the
    # RTX 4070 Ti SUPER pool's tokens -0.14 % (+3.97 % without); Qwen3-0.6B on an RTX 5080 -5.0 % (-9.6 % without:
    # that build takes 0.06 GiB more than the 0.4.6 log of the same model, not explained)
    sg = Path(__file__).parent / "data" / "serving" / "sglang.jsonl"
    results = {r.case: r for r in score_serving_file(sg)}
    caps = {"sglang-wsl-4070tis-qwen2.5-0.5b-pd-prefill-0.5.8": 0.005, "sglang-docs-80gb-qwen2.5-0.5b-weights": 0.005,
            "sglang-rtx5080-qwen3-0.6b-weights": 0.055}
    for case, cap in caps.items():
        e = results[case].error("weights")
        assert results[case].split == "heldout" and e is not None and abs(e) <= cap, (case, e)
    e = results["sglang-wsl-4070tis-qwen2.5-0.5b-pd-prefill-0.5.8"].error("kv_tokens")
    assert e is not None and abs(e) <= 0.005


def test_development_weights_within_half_a_percent() -> None:
    # issue 14's bar for the weights (0.5 %) on every development start-up that prints them; the last one outside it
    # was the AWQ log (vLLM 0.26.0, -1.78 %) until the 0.21+ load's max_split replay (vllm_load: -0.01 %)
    for r in score_serving_file(FILE):
        e = r.error("weights")
        assert r.split != "dev" or e is None or abs(e) <= 0.005, (r.case, e)
