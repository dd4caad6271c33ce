"""The gated delta-net's training replay (``training/layer_gdn.py``), sizes worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_errors
from _traces import Counted, Requested
from memfit.memory.activations import Precision
from memfit.memory.training.layer_gdn import gdn_mixer, replays_gdn
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec

FAMILIES = Path(__file__).resolve().parent / "data" / "simulated" / "families.jsonl"
MIB = 1 << 20


def _spec() -> ModelSpec:
    for line in FAMILIES.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("case", "").startswith("qwen3-next-80b-a3b-l4/train"):
            return spec_from_config(rec["config"], "qwen3-next-l4")
    raise AssertionError("qwen3-next training case missing")


def test_gated_delta_net_keeps_what_autograd_keeps() -> None:
    """Qwen3-Next-80B-A3B's gated delta-net (h 2,048; 16 q/k heads and 32 v heads of 128; conv 4) on 2,048 bf16
    tokens (32 chunks of 64): the conv's input (q, k, v: 8,192 channels, 32 MiB) and its padded output
    (8,192 · 2,051 · 2 B); q and k in fp32 repeated to 32 heads (32 MiB each), the three pads (32 MiB each), k·β
    (32 MiB); the decays and the UT system's and intra-chunk attention's bmm and product (5 chunk² tensors,
    32 · 2,048 · 64 · 4 B = 16 MiB); the two solves (32 MiB each); the zero state and the 31 states the loop keeps
    (32 · 128 · 128 · 4 B = 2 MiB each); q and k decayed (32 MiB each); the gated norm's fp32 input, gate and silu
    (32 MiB each) and its three bf16 tensors (16 MiB each). 672 MiB + 3·8,192·2 B, as the simulator's trace of
    the case keeps above 1 MiB. The backward frees them all and leaves in_proj's output gradient (12,288 wide)."""
    spec = _spec()
    layer = next(x for x in spec.layers if x.linear is not None)
    assert replays_gdn(layer)
    tr = Requested()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=2048)
    x = tr.alloc(2048 * 2048 * 2)
    run = LayerRun()
    out = gdn_mixer(c, run, layer, x, 2)
    assert tr.live[out] == 2048 * 2048 * 2  # out_proj's output
    linear_kept = sum(tr.live[k] for lin in run.linears for k in (*lin.saved, lin.weight_cast) if k)
    mixer = sum(tr.live.values()) - 2 * 2048 * 2048 * 2 - linear_kept
    kept_mib = 32 + 32 + 2 * 32 + 3 * 32  # conv input, padded output (+3 positions), q k, pads
    kept_mib += 32 + 5 * 16 + 2 * 32 + 2 + 31 * 2 + 2 * 32 + 3 * 32 + 3 * 16  # k·β, chunk², solves, states, norm
    assert mixer == kept_mib * MIB + 3 * 8192 * 2
    ((pos, op),) = run.ops
    assert pos == 1  # between in_proj and out_proj
    g = tr.alloc(2048 * 4096 * 2)  # out_proj's input gradient
    left = op(c, [g])
    assert [tr.live[k] for k in left] == [2048 * 12288 * 2]
    assert sum(tr.live.values()) == 2 * 2048 * 2048 * 2 + linear_kept + 2048 * 12288 * 2


def test_a_checkpointed_first_forward_keeps_nothing() -> None:
    spec = _spec()
    layer = next(x for x in spec.layers if x.linear is not None)
    tr = Requested()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=2048)
    x = tr.alloc(2048 * 2048 * 2)
    out = gdn_mixer(c, LayerRun(keep=False), layer, x, 2)
    assert set(tr.live) == {x, out}


def test_a_checkpointed_first_forward_frees_each_tensor_after_its_last_reference() -> None:
    """The same mixer's first forward under checkpointing, where autograd saves nothing: each tensor goes with its
    last Python reference, so the peak is where the rule decays q and k. Alive then above the 8 MiB input: in_proj's
    output (48 MiB, kept by the forward's local), z's copy (16), the conv's activation (32, q, k, v view it), the
    three pads (32 each; the padded q being replaced by its decayed copy, 32), v·β and k·β (32 each), the pairwise
    decays, the UT system and the intra-chunk attention (16 each), k_β·decay and the two solves (32 each), the zero
    state (2) and the output buffer (32): 466 MiB. The code before held every tensor the rule makes to the end
    (the 31 per-chunk states, the fp32 and padded copies, the norm's chain): 832.05 MiB above the input."""
    spec = _spec()
    layer = next(x for x in spec.layers if x.linear is not None)
    tr = Counted()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=2048)
    x = tr.alloc(2048 * 2048 * 2)
    gdn_mixer(c, LayerRun(keep=False), layer, x, 2)
    assert tr.peak == (8 + 48 + 16 + 32 + 4 * 32 + 2 * 32 + 3 * 16 + 3 * 32 + 2 + 32) * MIB
    assert tr.live == 2 * 8 * MIB  # the input and out_proj's output


def test_qwen3_next_checkpointed_training_total() -> None:
    """The development case the first forward was written from (the simulator's trace of
    qwen3-next-80b-a3b-l4/train-bf16-adamw-fused-ckpt-b1-s2048): with the first forward's tensors freed as the
    trace frees them, its step-0 pool opens the trace's 32 MiB segments, not 8 more, and in step 1 the last MoE
    layer's 2 GiB gate_up gradient finds no free block in either pool (-3.46 % before)."""
    allocated, total = case_errors(FAMILIES, "qwen3-next-80b-a3b-l4/train-bf16-adamw-fused-ckpt-b1-s2048")
    assert abs(allocated) < 0.01
    assert abs(total) < 0.01
