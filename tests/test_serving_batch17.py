"""vLLM batches 17 and 18 (issue 14, 2026-12-07): start-ups recorded (inputs and printed figures) and committed before
memfit scored them. Batch 17's two rows were scored once (GPTQ-Int4 on the WSL RTX 4090 tokens +5.14 %; Qwen2.5-3B on a
HAMi-limited L40S weights +0.03 %, pool +12.22 %, tokens +12.29 %, concurrency +12.28 %), were then compared with the
cold-compile mechanism and moved to development (commit 'serving data (issue 14, held-out rule)'), with batch 18 listed
as their blind replacements in that commit, before the change; batch 18 was scored once after it."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.serving_cases import score_serving_file

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"

# batch 18 at its first scoring (after the cold-compile change, which neither row uses: both priced warm, one eager),
# |error| rounded up to 0.01 pp; a case may improve, never grow past it + 0.5 pp
FIRST_18 = {
    "friday-rtx3090-hermes-3-llama-3.1-8b-v0.11-16k": {"weights": 0.0001, "kv_pool": 0.0099, "kv_tokens": 0.0098,
                                                       "max_concurrency": 0.0106},
    "modelling-l40s-exaone-4.0-32b-fp8-eager-v0.11.0-4k": {"weights": 0.0054, "kv_pool": 0.0088, "kv_tokens": 0.0087,
                                                           "max_concurrency": 0.0088},
    # batch 19, recorded and committed after the change, before its scoring: a cold start on vLLM 0.15.1
    "runpod-rtx6000ada-llama-3.1-8b-ft-fp16-v0.15.1-128k": {"weights": 0.0001, "kv_pool": 0.0103, "kv_tokens": 0.0102,
                                                            "max_concurrency": 0.0118},
}


def _rows() -> dict[str, dict[str, object]]:
    return {r["case"]: r for r in map(json.loads, FILE.read_text(encoding="utf-8").splitlines())}


def test_batch18_blind_cases_hold_their_first_scoring() -> None:
    results, rows = {r.case: r for r in score_serving_file(FILE)}, _rows()
    for case, caps in FIRST_18.items():
        batch = "batch 19" if "runpod" in case else "batch 18"
        assert results[case].split == "heldout" and batch in str(rows[case]["collected"]), case
        for q, cap in caps.items():
            e = results[case].error(q)
            assert e is not None and abs(e) <= cap + 0.005, (case, q, e)


def test_batch17_rows_moved_with_their_first_scoring_kept() -> None:
    results, rows = {r.case: r for r in score_serving_file(FILE)}, _rows()
    gptq = "notes-wsl-rtx4090-qwen2.5-7b-gptq-int4-serve-v0.27.1"
    hami = "notes-hami16g-l40s-qwen2.5-3b-v0.27.1-seqs1"
    for case in (gptq, hami):
        assert results[case].split == "dev" and "moved_to_dev" in rows[case]
        assert "batch 17" in str(rows[case]["collected"])
    # GPTQ-Int4: its compile cache is not stated, so it is priced warm as at its first scoring
    e = results[gptq].error("kv_tokens")
    assert e is not None and abs(e) <= 0.0514 + 0.005
    # HAMi L40S: a fresh pod (compile_cache cold): the embedding benchmark (0.59 GiB) replaces the 0.15 GiB forward
    e = results[hami].error("kv_pool")
    assert e is not None and 0 < e <= 0.0597 + 0.005
    assert abs(results[hami].error("weights") or 1.0) <= 0.0003 + 0.005
