"""FSDP2 / DTensor TP per-rank model (memory/training/parallel_fsdp.py): sizes worked out by hand from the
shapes and PyTorch's padding rule, the moments' terms, bad layouts, and the judged accuracy on the simulated
rank-0 cases (tests/data/parallel/, tools/simulate_parallel.py: development and held-out, reported apart)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from memfit import estimate
from memfit.errors import ConfigError, UnsupportedError
from memfit.memory.training.parallel_fsdp import fsdp_layout, fsdp_moments, rank_activations, rank_sizes
from memfit.sources.loader import load_model
from memfit.validate import validate_file
from memfit.workload import Workload

DATA = Path(__file__).resolve().parent / "data" / "parallel"


def test_fsdp_pads_dim0_to_the_shard_group() -> None:
    """Qwen3-30B-A3B over 24 ranks: each tensor's dim 0 is padded to a multiple of 24 and rank 0 keeps the first
    ceil(d0 / 24) rows (FSDPParam._init_sharded_param). 128 experts → 6 rows each (144 gathered, 12.5 % padding)."""
    spec = load_model("qwen3-30b-a3b")
    sizes = rank_sizes(spec, fsdp_layout(Workload(mode="train", gpus=24, zero=3)))
    q, kv, o = 171 * 2048, 22 * 2048, 86 * 4096  # ceil(4096/24), ceil(512/24), ceil(2048/24)
    norms = 2 * 86 + 2 * 6  # input/post norms (2048), q/k norms (128)
    router, experts = 6 * 2048, 3 * 6 * 768 * 2048  # gate (128, 2048); gate/up/down of 128 experts
    assert sizes.sharded_layers[0] == q + 2 * kv + o + norms + router + experts
    assert sizes.layers[0] == 24 * sizes.sharded_layers[0]
    embed = 6331 * 2048  # ceil(151936 / 24) = 6331 rows, embedding and the untied lm_head each
    assert sizes.sharded_root == 2 * embed + 86


def test_tensor_then_fsdp_sharding_by_hand() -> None:
    """Llama-3.2-1B, tp 2 × shard 4: column-wise q/k/v/gate/up halve dim 0, row-wise o/down halve dim 1, norms
    replicated; FSDP then splits each local dim 0 in 4."""
    spec = load_model("llama-3.2-1b")
    sizes = rank_sizes(spec, fsdp_layout(Workload(mode="train", gpus=8, tp=2, zero=3)))
    per_layer = 256 * 2048 + 2 * 64 * 2048 + 512 * 1024 + 2 * 1024 * 2048 + 512 * 4096 + 2 * 512
    assert sizes.sharded_layers == (per_layer,) * 16
    assert sizes.sharded_root == 16032 * 2048 + 512  # tied embedding (128256 / 2 / 4 rows) + final norm
    assert sizes.head == 128256 // 2 * 2048  # the tied embedding's gradient appears at the lm_head


def test_moments_hold_the_gathered_layers() -> None:
    """FULL_SHARD: a layer's forward holds its gathered parameters and the all-gather output they came from
    (2 U, bf16); SHARD_GRAD_OP keeps every earlier layer gathered too. The root stays gathered throughout."""
    spec = load_model("llama-3.2-1b")
    for zero in (3, 2):
        wl = Workload(mode="train", gpus=8, zero=zero, batch=1, context=1024)
        lay = fsdp_layout(wl)
        sizes = rank_sizes(spec, lay)
        acts = rank_activations(spec, _acts(spec, wl), _precision(spec, wl), lay, 1, 1024)
        m = fsdp_moments(acts, sizes, lay, "none")
        U = 2 * sizes.layers[0]  # every layer is the same size: 2 B per gathered element
        R = 2 * sizes.root
        kept = 0 if zero == 3 else 2 * U
        assert m["forward (layer 2)"].gathered == R + 2 * U + kept
        assert m["optimizer step"].gradients == 4 * sizes.sharded and m["optimizer step"].gathered == 0


def _precision(spec: object, wl: Workload) -> object:
    from dataclasses import replace

    from memfit.memory.training.states import model_states

    p = model_states(spec, wl).precision  # type: ignore[arg-type]
    return replace(p, amp=False, weight_bytes=2, resid_bytes=2, kv_cache=True)


def _acts(spec: object, wl: Workload) -> object:
    from memfit.memory.model_activations import model_activations

    return model_activations(spec, _precision(spec, wl), wl.batch, wl.context)  # type: ignore[arg-type]


def test_last_gradient_and_tp_embedding_gradient_by_hand() -> None:
    """Qwen3-8B, FSDP 2 × TP 2, bf16/fp32 mixed precision. foreach_reduce's shard-dim loop leaves the group's last
    gradient bound to a local until it returns: the root's is the untied lm_head's (151936 / 2 rows × 4096, bf16),
    so the root's reduce-scatter holds its fp32 input (both vocabulary tensors, padded to the shard group, and the
    norm), its fp32 output and that gradient. Under TP the embedding's gradient is whole (151936 × 4096): the
    root's post-backward holds it, its local copy, the other root gradients and layer 0's reduce-scatter input."""
    spec = load_model("qwen3-8b")
    wl = Workload(mode="train", gpus=4, tp=2, zero=3, batch=1, context=1024, checkpointing="full")
    lay = fsdp_layout(wl)
    sizes = rank_sizes(spec, lay)
    vocab_local = 75968 * 4096
    assert (sizes.last_root, sizes.embed_full, sizes.embed_local) == (vocab_local, 151936 * 4096, vocab_local)
    assert sizes.last_layers == (4096,) * 36  # post_attention_layernorm
    root = 2 * vocab_local + 4096  # gathered: embedding + lm_head (dim 0 divides 2) + final norm
    assert sizes.root == root and sizes.sharded_root == root // 2
    acts = rank_activations(spec, _acts(spec, wl), _precision(spec, wl), lay, 1, 1024)
    m = fsdp_moments(acts, sizes, lay, "full")
    assert m["reduce-scatter (root)"].grad_buffers == 4 * root + 4 * root // 2 + 2 * vocab_local
    post = m["root post-backward (embedding gradient to its TP shard)"]
    assert post.grad_buffers == 2 * root + 4 * sizes.layers[0] + 2 * 151936 * 4096


def test_offload_keeps_states_on_the_host() -> None:
    e = estimate("llama-3.1-8b", mode="train", gpus=8, zero=3, offload="params")
    j = e.to_json()["components"]
    assert j["weights"] == 0 and j["optimizer_states"] == 0 and j["gradients"] == 0
    assert j["host_weights"] == 4 * 8_030_261_248 // 8
    assert j["host_optimizer_states"] == 8 * 8_030_261_248 // 8


@pytest.mark.parametrize(("kw", "cls", "text"), [
    (dict(zero=2, offload="params"), ConfigError, "offload = params needs ZeRO stage 3"),
    (dict(zero=3, shard_size=3), ConfigError, "shard_size = 3 must divide the data-parallel size 8"),
])
def test_bad_fsdp_layouts_are_refused(kw: dict[str, object], cls: type[Exception], text: str) -> None:
    with pytest.raises(cls, match=text):
        estimate("llama-3.1-8b", mode="train", gpus=8, **kw)


def test_tp_of_experts_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="tensor parallelism of qwen3-30b-a3b's experts"):
        estimate("qwen3-30b-a3b", mode="train", gpus=8, tp=2, zero=3)


# Development cases memfit misses by more than the bar, with why (docs/simulator.md, "Multi-GPU training") and the
# error they stand at (percent): held to it, so a fix shows up as a failure that moves the case out of this table.
KNOWN_DEVIATIONS: dict[str, tuple[float, str]] = {}


def test_known_deviations_stand_where_stated() -> None:
    results, _ = validate_file(DATA / "dev.jsonl")
    errs = {r.case: r.relative_error for r in results}
    for case, (pct, _why) in KNOWN_DEVIATIONS.items():
        e = errs[case]
        assert e is not None and abs(100 * e - pct) < 0.05, (case, e)


@pytest.mark.parametrize("name", ["dev.jsonl", "heldout.jsonl"])
def test_judged_accuracy_on_simulated_ranks(name: str) -> None:
    """Issue 16's bar, per file: median |error| ≤ 2 %, every case within 6 %, none under by more than 3 %
    (the development cases in KNOWN_DEVIATIONS aside)."""
    path = DATA / name
    if not path.exists():
        pytest.skip(f"{name} not recorded")
    results, _ = validate_file(path)
    pairs = [(r.relative_error, r.case) for r in results if r.case not in KNOWN_DEVIATIONS]
    assert all(e is not None for e, _ in pairs), [r.note for r in results if r.relative_error is None]
    errs = [(e, case) for e, case in pairs if e is not None]
    assert len(errs) >= 25
    assert statistics.median(abs(e) for e, _ in errs) <= 0.02
    worst = max(errs, key=lambda x: abs(x[0]))
    assert abs(worst[0]) <= 0.06, worst
    assert min(errs)[0] >= -0.03, min(errs)


def test_stream_pools_do_not_share_cached_blocks() -> None:
    """CUDACachingAllocator keeps a block on the stream it was allocated on: a 100 MiB block freed on the default
    stream serves a later 100 MiB request of the default stream (one 100 MiB segment), not one of the all-gather
    copy-in stream, which makes its own segment (200 MiB reserved)."""
    from memfit.memory.training.fsdp_pool import COPY_IN, StreamTrace

    mib = 1 << 20
    same = StreamTrace()
    same.free(same.alloc(100 * mib))
    same.alloc(100 * mib)
    assert same.figures().peak_reserved == 100 * mib
    other = StreamTrace()
    other.free(other.alloc(100 * mib))
    other.on(COPY_IN, 100 * mib)
    assert other.figures().peak_reserved == 200 * mib
    assert other.figures().peak_allocated == 100 * mib


def test_expandable_stream_pools_grow_by_pages() -> None:
    """expandable_segments:True: each stream's large pool is one segment grown by 20 MiB pages. Default stream: 12 MiB
    (a 20 MiB page), 12 MiB (8 MiB left at the end + one more page: 40 MiB), both freed (they merge), then 24 MiB
    fits in the 40 MiB; the reduce-scatter stream's 24 MiB maps its own two pages: 80 MiB. Without expandable
    segments: 12 + 12 MiB segments that cannot merge, a new 24 MiB one, and 24 MiB on the other stream: 72 MiB."""
    from memfit.memory.training.fsdp_pool import REDUCE, StreamTrace

    mib = 1 << 20
    reserved = {}
    for expandable in (True, False):
        tr = StreamTrace(expandable)
        tr.free(tr.alloc(12 * mib), tr.alloc(12 * mib))
        tr.alloc(24 * mib)
        tr.on(REDUCE, 24 * mib)
        reserved[expandable] = tr.figures().peak_reserved
        assert tr.figures().peak_allocated == 48 * mib
    assert reserved == {True: 80 * mib, False: 72 * mib}


def test_validate_reads_expandable_from_the_record() -> None:
    """A record whose layout says expandable (the run's PYTORCH_CUDA_ALLOC_CONF) is scored with
    --expandable-segments; the same record without it, without."""
    from memfit.validate import _predict

    rec = json.loads((DATA / "published.jsonl").read_text().splitlines()[1])
    p = rec["params"]
    kw = dict(mode="train", gpus=p["gpus"], zero=p["zero"], batch=p["batch"], context=p["seq"],
              checkpointing=p["ckpt"], optimizer=p["opt"])
    _, total, _ = _predict(rec)
    assert total == int(estimate(rec["model"], **kw, expandable_segments=True).total_bytes)
    _, plain, _ = _predict({**rec, "layout": {**rec["layout"], "expandable": False}})
    assert plain == int(estimate(rec["model"], **kw).total_bytes) != total


def test_replayed_reserve_replaces_the_fraction() -> None:
    """Under FSDP2 the reserve is the replay's (reserved − allocated peak of the emulated per-stream pools), named so
    in --explain, not the one-GPU fraction."""
    e = estimate("qwen3-8b", mode="train", gpus=4, tp=2, zero=3, batch=1, context=4096, checkpointing="full")
    c = next(c for c in e.components if c.name == "allocator_reserve")
    assert "one pool per CUDA stream" in c.formula and "fraction" not in c.formula
    assert c.bytes > 0


PLAN_CHECKS = [json.loads(line) for line in (DATA / "plan-checks.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("rec", PLAN_CHECKS, ids=lambda r: f"{r['model']}-{r['gpu']}")
def test_plan_answers_fit_when_simulated(rec: dict[str, Any]) -> None:
    """Issue 16: every layout ``memfit plan -q gpus`` proposes fits rank 0 when simulated. Each recorded check
    (tools/simulate_parallel.py plan: rank 0 of the answer on the full model, PyTorch's FSDP2/DTensor on fake ranks,
    the per-stream pool emulation) must still be plan's answer, and its simulated reserved peak + the CUDA context
    must be within the GPU's usable memory. A changed answer fails here until it is simulated and recorded; an answer
    recorded as not fitting (``known_miss``, docs/simulator.md) is held as such until plan's answer changes."""
    import memfit

    ans = memfit.plan_gpus(rec["model"], rec["gpu"], mode=rec.get("mode", "train"), batch=rec["batch"],
                           context=rec["seq"])
    lay = ans.extra["layout"]
    assert ans.value == rec["workload"]["gpus"]
    for k in ("tp", "zero", "checkpointing", "sequence_parallel", "batch", "grad_accum"):
        assert lay[k] == rec["workload"][k], (k, lay[k], rec["workload"][k])
    assert ans.at_value is not None and ans.at_value.capacity_bytes == rec["usable"]
    if "known_miss" in rec:  # an answer that does not fit when simulated, recorded as such (the record says why)
        assert not rec["fits"] and rec["simulated_peak_reserved"] + rec["cuda_context"] > rec["usable"]
        return
    assert rec["fits"] and rec["simulated_peak_reserved"] + rec["cuda_context"] <= rec["usable"]


def test_plan_refuses_lora_layouts_not_simulated() -> None:
    """Multi-GPU LoRA is modelled rank by rank only as FSDP2 of a dense model without TP/PP/EP/offload
    (memory/training/fsdp_lora.py, simulated in plan-checks.jsonl) and QLoRA as FSDP1's rank (fsdp1_qlora.py); plan
    proposed TP 2 for Qwen3-14B LoRA on RTX 4090s and FSDP for Mixtral LoRA (neither ever simulated), so it searches
    FSDP alone for LoRA and refuses MoE LoRA on more than one GPU with one line."""
    import memfit

    ans = memfit.plan_gpus("qwen3-14b", "rtx-4090", mode="lora", batch=1, context=2048)
    assert ans.extra["layout"]["tp"] == 1 and ans.extra["layout"]["zero"] == 3 and ans.value == 3
    with pytest.raises(memfit.MemfitError, match="multi-GPU LoRA only as FSDP"):
        memfit.plan_gpus("mixtral-8x7b", "a100-40gb", mode="lora", batch=1, context=2048)
    # was TP 2: LoRA b4 s4096 (TP with offload before): FSDP alone leaves the logits whole
    try:
        t4 = memfit.plan_gpus("llama-3.1-8b", "t4", mode="lora", batch=4, context=4096, limit=64, host_memory="48GB")
        assert t4.value is None
        why = t4.explanation
    except memfit.MemfitError as e:
        why = str(e)
    assert "multi-GPU LoRA only as FSDP" in why
    # QLoRA b2 s4096 on T4s (was TP 2, then refused): FSDP1 over two, no tensor parallelism
    q = memfit.plan_gpus("llama-3.1-8b", "t4", mode="qlora", batch=2, context=4096, limit=64)
    assert q.value == 2 and q.extra["layout"]["tp"] == 1 and q.extra["layout"]["fsdp_version"] == 1


def test_eager_masks_kept_through_a_checkpointed_step() -> None:
    """transformers 5 builds one float b × 1 × s × s mask per kind of layer for eager attention; under full
    checkpointing each lives to the backward of the first layer reading it (memory/training/fsdp_masks.py).
    Gemma-2-9B alternates sliding (even) and full (odd) layers: the full mask first, read first by layer 1, then the
    sliding one, by layer 0; b2 s4096 in bf16 is 2·4096·4096·2 B each. Llama has one kind; SDPA and steps without
    checkpointing keep none to the backward."""
    from memfit.memory.training.fsdp_masks import eager_masks

    each = 2 * 4096 * 4096 * 2
    assert eager_masks(load_model("gemma-2-9b"), "eager", "full", 2, 4096, 2) == ((each, 1), (each, 0))
    llama = load_model("llama-3.2-1b")
    assert eager_masks(llama, "eager", "full", 1, 1024, 4) == ((1024 * 1024 * 4, 0),)
    assert eager_masks(llama, "sdpa", "full", 1, 1024, 2) == ()
    assert eager_masks(llama, "eager", "none", 1, 1024, 2) == ()


def test_foreach_adamw_step_holds_one_shard_sized_temporary() -> None:
    """torch/optim/adam.py ``_multi_tensor_adam``: ``_foreach_sqrt(exp_avg_sqs)`` is one new tensor per sharded
    parameter in the states' dtype, alive at once; Mistral-7B's 7,248,023,552 parameters split evenly over 2 ranks
    (every dim 0 even), bf16 states: 3,624,011,776 × 2 B. ``fused=True`` makes none; CPU offload steps on the host."""
    kw: dict[str, Any] = dict(mode="train", gpus=2, zero=3, batch=1, context=512, mixed_precision=False)
    foreach = estimate("mistral-7b-v0.3", optimizer="adamw-foreach", **kw).to_json()
    fused = estimate("mistral-7b-v0.3", optimizer="adamw-fused", **kw).to_json()
    assert foreach["components"]["optimizer_temporary"] == 3_624_011_776 * 2
    step = "optimizer step"
    assert foreach["details"]["phases"][step] - fused["details"]["phases"][step] == 3_624_011_776 * 2
    assert foreach["details"]["peak_phase"] == step
    off = estimate("mistral-7b-v0.3", optimizer="adamw-foreach", offload="params", **kw).to_json()
    assert "optimizer_temporary" not in off["components"]
