"""memfit's device total: the caching allocator's reserve from the emulated run (memory/allocator_trace.py,
memory/runtimes/transformers_pool.py), the CUDA context per architecture and workload, and validate's
fresh-process correction for kernels earlier cases loaded."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from memfit.memory.allocator_trace import Trace, build_weights
from memfit.memory.overhead import cuda_context_bytes, overhead_data
from memfit.memory.runtimes.transformers_estimate import estimate_transformers
from memfit.memory.training import estimate_training
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file, workload_for_case

MIB = 1 << 20
LLAMA_1B = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
            "tie_word_embeddings": True, "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}


def test_tied_embedding_leaves_its_block_cached_after_the_build() -> None:
    """transformers allocates lm_head with the model and frees it when it ties it to the embedding: the pool keeps
    a 128,256 × 2,048 × 2 B = 525,336,576 B block (a 502 MiB segment: 525,336,576 rounded up to 2 MiB)."""
    spec = spec_from_config(LLAMA_1B, "llama-3.2-1b")
    untied = Trace()
    build_weights(untied, spec, 2 * 1_235_814_400, 1, None)
    untied.built()
    tied = Trace()
    build_weights(tied, spec, 2 * 1_235_814_400, 1, 2)
    tied.built()
    a, b = untied.figures(), tied.figures()
    assert b.allocated_after_build == a.allocated_after_build
    assert b.reserved_after_build - a.reserved_after_build == 502 * MIB


def test_llama_1b_generate_reserve_against_the_h100() -> None:
    """The H100 case llama-3.2-1b/gen-b1-s1024: reserved peak 3,072,327,680 B, allocated 2,607,193,600 B (465 MB
    apart, mostly the tied lm_head's cached block). memfit's device total is within 0.1 % of reserved + context."""
    rows = [json.loads(line) for line in (Path(__file__).parent / "data/groundtruth/h100.jsonl").read_text()
            .splitlines()]
    rec = next(r for r in rows if r.get("case") == "llama-3.2-1b/gen-b1-s1024")
    spec = spec_from_config(rec["config"], rec["model"])
    est = estimate_transformers(spec, workload_for_case(rec["kind"], rec["params"]).validate())
    measured = rec["peak_reserved"] + rec["device_used_end"] - rec["reserved_end"]
    assert abs(est.total_bytes - measured) / measured < 0.001


def test_expandable_segments_reserve_less() -> None:
    spec = spec_from_config(LLAMA_1B, "llama-3.2-1b")
    wl = workload_for_case("generate", {"batch": 16, "seq": 2048, "new": 32})
    plain = estimate_transformers(spec, wl.validate())
    grown = estimate_transformers(spec, replace(wl, expandable_segments=True).validate())
    assert grown.component("allocator_reserve") < plain.component("allocator_reserve")
    assert grown.allocated_bytes == plain.allocated_bytes


EXPANDABLE = [json.loads(line) for line in (Path(__file__).parent / "data/simulated/validation-expandable.jsonl")
              .read_text().splitlines()]


@pytest.mark.parametrize("sim", EXPANDABLE, ids=lambda r: r["case"])
def test_expandable_segments_training_replay(sim: dict[str, Any]) -> None:
    """--expandable-segments in training: the one-GPU replay (memory/training/pool.py) through the emulated allocator
    with expandable segments reserves what the simulator's emulation of the same case does (its allocated peak
    is unchanged). Without the option memfit prices the default allocator: +3.8, +6.3, -3.1, +0.5 % off it."""
    rows = [json.loads(line) for line in (Path(__file__).parent / "data/groundtruth/h100.jsonl").read_text()
            .splitlines()]
    rec = next(r for r in rows if r.get("case") == sim["case"])
    spec = spec_from_config(rec["config"], rec["model"])
    wl = workload_for_case(rec["kind"], rec["params"])
    grown = estimate_training(spec, replace(wl, expandable_segments=True).validate())
    plain = estimate_training(spec, wl.validate())
    assert grown.allocated_bytes == plain.allocated_bytes
    reserved = int(grown.allocated_bytes or 0) + grown.component("allocator_reserve")
    assert abs(reserved / sim["emulated_peak_reserved"] - 1) <= 0.015, (sim["case"], reserved)


def test_cuda_context_rows() -> None:
    rows = {r["arch"]: r for r in overhead_data()["cuda_context"]}
    assert cuda_context_bytes("hopper")[0] == rows["hopper"]["inference_bytes"] == 730_660_864
    assert cuda_context_bytes("hopper", training=True)[0] == 799_866_880
    for arch in ("turing", "volta"):  # none published (the "*" row says where it was looked for)
        n, text = cuda_context_bytes(arch)
        assert n == rows["*"]["inference_bytes"] and f"no published figure for {arch}" in text
    # every row names its source and the rule it is applied by (to other GPUs of its generation, or to all others)
    assert all(r["source"] and r["rule"] for r in rows.values())


def test_cuda_context_from_a_published_bare_context() -> None:
    """A generation with a published bare context (a process whose context exists and has run no kernel) takes it
    plus what the workload's kernels and handles add on the H100: its measured inference and training contexts
    minus its idle one (the ground truth's env line: 648,871,936 B). RTX 6000 Ada: 426 MiB = 446,693,376 B;
    RTX 3090: 256 MiB = 268,435,456 B; RTX PRO 6000 Blackwell: 555 MiB = 581,959,680 B."""
    env = json.loads((Path(__file__).parent / "data/groundtruth/h100.jsonl").read_text().splitlines()[0])["env"]
    idle = env["context_bytes_idle"]
    assert idle == 648_871_936
    for arch, bare in (("ada", 426 << 20), ("ampere", 256 << 20), ("blackwell", 555 << 20)):
        n, text = cuda_context_bytes(arch)
        assert n == bare + 730_660_864 - idle and "published bare context" in text
        assert cuda_context_bytes(arch, training=True)[0] == bare + 799_866_880 - idle


def test_validate_takes_off_training_kernels_from_a_later_inference_case(tmp_path: Path) -> None:
    """Out-of-pool memory 100, then a training case at 172 (72 of training kernels), then an inference case at 180:
    a fresh inference process would hold 180 - 72."""
    base = {"config": LLAMA_1B, "model": "llama-3.2-1b", "peak_reserved": 10_000, "reserved_end": 0}
    lines = [dict(base, case="a", kind="generate", params={"batch": 1, "seq": 8, "new": 2}, peak_alloc=5_000,
                  device_used_end=100),
             dict(base, case="b", kind="train", params={"batch": 1, "seq": 8}, peak_alloc=5_000,
                  device_used_end=172),
             dict(base, case="c", kind="generate", params={"batch": 1, "seq": 8, "new": 2}, peak_alloc=5_000,
                  device_used_end=180)]
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    rows, _ = validate_file(path)
    assert [r.measured_total for r in rows] == [10_100, 10_172, 10_180 - 72]


def test_the_replay_runs_on_a_context_grid() -> None:
    """2^k × {1, 1.25, 1.5, 1.75}: powers of two (the measured prompts) are on it."""
    from memfit.memory.runtimes.transformers_pool import grid_up

    assert [grid_up(n) for n in (3, 8, 9, 960, 1024, 1025, 1281, 1537, 1793, 5000)] == \
        [8, 8, 10, 1024, 1024, 1280, 1536, 1792, 2048, 5120]


def test_the_device_total_does_not_fall_as_the_context_grows_in_plans_search() -> None:
    """Inside ``interpolating_reserve`` (plan's search) the reserve is interpolated between grid points and the total
    does not fall as the context grows; outside, the reserve is replayed at the context itself and may."""
    from memfit.memory.runtimes.transformers_pool import interpolating_reserve

    spec = spec_from_config(LLAMA_1B, "llama-3.2-1b")
    wls = [workload_for_case("generate", {"batch": 2, "seq": s, "new": 8}).validate() for s in range(1500, 2600, 37)]
    with interpolating_reserve():
        totals = [estimate_transformers(spec, wl).total_bytes for wl in wls]
    assert totals == sorted(totals)
    exact = [estimate_transformers(spec, wl).total_bytes for wl in wls]
    assert exact != totals
