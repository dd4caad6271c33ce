"""The RTX 4090 Qwen3-8B cold start (vllm.jsonl, development), read from its whole log (issue 14, l14serve3).

The row was recorded from the notes' summary ("gpu_memory_utilization at the 0.9 default", no CUDA total), priced at
0.9 x the catalog's 23.64 GiB: pool -9.98 %. The start-up's log (alexostapiuk11/coldstart-recon-worker,
fixtures/vllm_logs/startup_0.log) prints, after graph capture (vLLM 0.27.1 gpu_worker.py, the kv-cache-memory advice):
"Free memory on device (22.64/23.52 GiB) on startup. Desired GPU memory utilization is (0.92, 21.64 GiB)": the total
is 23.52 GiB and the utilization 0.92, vLLM 0.27.1's own default (vllm/config/cache.py CacheConfig
gpu_memory_utilization Field(default=0.92)); "Maximum concurrency for 8,192 tokens per request: 4.37x".
"""

from __future__ import annotations

import json
from pathlib import Path

from memfit.serving_cases import score_serving_file

FILE = Path(__file__).parent / "data" / "serving" / "vllm.jsonl"
CASE = "recon-rtx4090-qwen3-8b-v0.27.1-cold-compile"


def _row() -> dict[str, object]:
    rows = [json.loads(line) for line in FILE.read_text().splitlines() if line.strip()]
    return next(r for r in rows if r["case"] == CASE)


def test_row_takes_the_logs_total_and_utilization() -> None:
    row = _row()
    assert row["gpu_memory_utilization"] == 0.92 and row["device_total_gib"] == 23.52
    # requested = floor(total x util) (gpu_worker.py request_memory): round(23.52 x 2**30) = 25,254,407,700 B,
    # x 0.92 = 23,234,055,084 B = 21.638 GiB, the log's "(0.92, 21.64 GiB)" (0.9 x 23.64 would be 21.28)
    total = round(23.52 * 2**30)
    assert total == 25_254_407_700
    requested = int(total * 0.92)
    assert requested == 23_234_055_084 and round(requested / 2**30, 2) == 21.64


def test_pool_by_hand() -> None:
    # requested 23,234,055,084 - weights 16,394,072,064 (bf16 8,190,735,360 params + rotary cache + block
    # remainders) - the cold profile peak 1,431,348,224 (Inductor's embedding benchmark 1,261,453,312 + MRV2's
    # sampler states 169,894,912: the vocabulary-wide 165,306,368 and the fixed-width per-request tables 256 x 4,481
    # x 4 = 4,588,544) - non-torch 268,435,456 = 5,140,199,340 B; // 2,359,296 B a block = 2,178 blocks, 34,848
    # tokens (the log: 35,792), 34,848 / 8,192 = 4.25 sequences (4.37x printed). Was 2,015 blocks, 32,240; 2,180
    # blocks, 34,880 tokens before the tables were counted (2026-12-08, l14mrv2).
    (r,) = [r for r in score_serving_file(FILE) if r.case == CASE]
    assert r.predicted["kv_tokens"] == 34_848
    assert abs(r.predicted["kv_pool"] * 2**30 - 5_140_199_340) < 1
    assert r.predicted["max_concurrency"] == 4.25
    for q, bound in (("kv_pool", 0.028), ("kv_tokens", 0.027), ("max_concurrency", 0.028)):
        e = r.error(q)
        assert e is not None and abs(e) <= bound, (q, e)


# The held-out warm twin (runs 1 and 2 of the same worker, issue 14 l14warm): recorded as the cold row was, with 0.9 and
# the catalog's 23.64 GiB; its own logs (fixtures/vllm_logs/startup_1.log and startup_2.log) print the same "Free
# memory on device (22.64/23.52 GiB) on startup. Desired GPU memory utilization is (0.92, 21.64 GiB)", with "0.19 GiB
# for peak activation", "Available KV cache memory: 5.91 GiB", 43,040 tokens and 5.25x. Inputs corrected, not tuned.
WARM = "recon-rtx4090-qwen3-8b-v0.27.1-warm-compile"


def test_warm_row_takes_its_logs_inputs_and_printed_figures() -> None:
    rows = [json.loads(line) for line in FILE.read_text().splitlines() if line.strip()]
    row = next(r for r in rows if r["case"] == WARM)
    assert row["split"] == "heldout" and row["compile_cache"] == "warm"
    assert row["gpu_memory_utilization"] == 0.92 and row["device_total_gib"] == 23.52
    assert row["printed"] == {
        "weights_gib": 15.27,
        "activation_gib": 0.19,
        "kv_cache_gib": 5.91,
        "kv_tokens": 43040,
        "max_concurrency": 5.25,
    }
    # the printed figures agree with each other: 43,040 tokens x 147,456 B (36 layers x 8 KV heads x 128 x 2 x 2 B)
    # = 6,346,506,240 B = 5.91 GiB; 43,040 / 8,192 = 5.25x
    assert round(43_040 * 36 * 8 * 128 * 2 * 2 / 2**30, 2) == 5.91 and round(43_040 / 8_192, 2) == 5.25


def test_warm_pool_by_hand() -> None:
    # requested 23,234,055,084 (as the cold row) - weights 16,394,072,064 - the warm profile peak 371,221,504 (the
    # forward over 2,048 tokens 201,326,592, above the sampler's 98,762,752, + MRV2's sampler states 169,894,912 with
    # the per-request tables' 4,588,544) - non-torch 268,435,456 = 6,200,326,060 B; // 2,359,296 B a block = 2,628
    # blocks, 42,048 tokens (the log: 43,040), 42,048 / 8,192 = 5.13 sequences (5.25x printed). With the old inputs
    # (0.9 x 23.64 GiB): 39,440 tokens; 42,064 before the tables were counted.
    (r,) = [r for r in score_serving_file(FILE) if r.case == WARM]
    assert r.predicted["kv_tokens"] == 42_048
    assert abs(r.predicted["kv_pool"] * 2**30 - 6_200_326_060) < 1
    assert r.predicted["max_concurrency"] == 5.13
