"""A checkpointed layer's recomputation in the training replay (``training/recompute.py``, ``pool._recompute``):
torch.utils.checkpoint's non-reentrant early stop ends it at the pack of the layer's last saved tensor, so the
tensors the forward makes after that pack are not made again. Sizes worked out by hand from transformers 5.25's
layers; the simulator's trace of ``deepseek-v4-flash-e8-l4/train-…-ckpt-b1-s1536`` (development) shows the same
stop (``post × output`` made, the ``matmul`` with comb not)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from _traces import Recorded
from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_grads import layer_backward
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.layer_stream import layer_forward
from memfit.memory.training.pool import _recompute
from memfit.memory.training.recompute import Recompute, stops_early
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec

SIMULATED = Path(__file__).parent / "data" / "simulated"
BF16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True, kv_cache=False)
MIB = 1 << 20


def _spec(path: str, case: str) -> ModelSpec:
    for line in (SIMULATED / path).read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == case:
            return spec_from_config(r["config"], r["model"])
    raise AssertionError(case)


def _forward_and_recompute(spec: ModelSpec, tokens: int, stream: int) -> tuple[list[int], list[int], Recorded,
                                                                              StepContext]:
    """The sizes layer 1 allocates in a kept forward and in its recomputation (from a stream of ``stream`` bytes)."""
    acts = model_activations(spec, BF16, 1, tokens)
    full = Recorded()
    c = StepContext(full, spec, BF16, 1, tokens, layer=1)
    layer_forward(c, spec.layers[1], acts.layers[1], full.alloc(stream))
    tr = Recorded()
    c = StepContext(tr, spec, BF16, 1, tokens, layer=1)
    x = tr.alloc(stream)
    run = _recompute(c, spec.layers[1], acts.layers[1], x)
    assert c.tr is tr
    redo = tr.sizes[1:]
    grad = tr.alloc(stream)
    g = layer_backward(c, run, grad, [])
    tr.free(g, *c.grads)
    assert tr.pool.allocated == tr.pool.live[x].size  # nothing the recomputation made is left behind
    return full.sizes[1:], redo, tr, c


def test_a_llama_layer_stops_at_the_down_projections_pack() -> None:
    """LLaVA-1.5-7B's Llama layer over 2,048 bf16 tokens (h 4,096, intermediate 11,008): the down projection packs
    its input (the 43 MiB product) and weight before computing; its output and the residual add (16 MiB each) are
    the two tensors the recomputation never makes."""
    spec = _spec("families-new.jsonl", "llava-1.5-7b-hf-l2/train-bf16-adamw-fused-ckpt-b1-s2048")
    t, h, inter = 2048, 4096, 11008
    full, redo, _tr, _c = _forward_and_recompute(spec, t, t * h * 2)
    prod = max(i for i, n in enumerate(full) if n == t * inter * 2)  # the product, down's input
    assert full[prod + 1:prod + 3] == [16 * MIB, 16 * MIB]
    assert redo == full[:prod + 1] + full[prod + 3:]  # (what follows: the layer's remainder block, saved)


def test_a_deepseek_v4_layer_stops_at_the_hyper_connections_matmul() -> None:
    """DeepSeek-V4-Flash with 16 experts over 2,048 bf16 tokens (4 streams of h 4,096): after the MoE block the
    hyper-connection makes ``post × output`` (64 MiB), then ``combᵀ @ streams`` packs its operands: the recomputation
    stops there, without that product and the new streams (64 MiB each)."""
    spec = _spec("families-v4.jsonl", "deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-ckpt-b1-s2048")
    t, h = 2048, 4096
    wide = t * 4 * h * 2
    full, redo, _tr, _c = _forward_and_recompute(spec, t, wide)
    last = len(full) - 1 - full[::-1].index(wide)  # the new streams
    assert full[last - 2:last + 1] == [wide, wide, wide]
    assert redo == full[:last - 1] + full[last + 1:]


def test_the_early_stop_leaves_out_every_allocation_after_the_limit() -> None:
    inner = Trace()
    rc = Recompute(inner=inner, limit=2)
    a, b = rc.alloc(4 * MIB), rc.alloc(0)
    rc.pack()
    c_ = rc.alloc(8 * MIB)
    rc.pack()
    assert (rc.count, rc.last_pack) == (2, 2) and b == 0 and a and c_
    assert rc.alloc(16 * MIB) == 0 and inner.pool.allocated == 12 * MIB
    assert rc.remainder(5) == 5 and rc.limit == 2  # the counting run records the remainder
    rc.rest = 7
    assert rc.remainder(5) == 7 and rc.limit == math.inf  # the stopped run makes it, after the stop


def test_layers_whose_tail_is_not_replayed_run_in_full() -> None:
    """Gemma 3n's AltUp and Gemma 4's per-layer input path save tensors after the MLP that the replay keeps only as
    the layer's remainder block: where they are packed is not known, so the layer is recomputed whole."""
    p = BF16
    for path, case, early in (
            ("families-towers.jsonl", "gemma3n-l10/train-bf16-adamw-fused-ckpt-b1-s2048", False),
            ("families-new.jsonl", "llava-1.5-7b-hf-l2/train-bf16-adamw-fused-ckpt-b1-s2048", True)):
        spec = _spec(path, case)
        c = StepContext(Trace(), spec, p, 1, 2048)
        assert stops_early(c, spec.layers[0]) is early, case


def test_a_qwen3_vl_towers_backward_runs_as_the_development_traces_show() -> None:
    """Qwen3-VL-30B-A3B's vision tower (hidden 1,152, MLP 4,304, 16 heads of 72, text width 2,048) on one 1,024²
    image: 4,096 patches, 1,024 merged tokens. The start of its backward, as the simulator's traces of the development
    cases qwen3-vl-30b-a3b-l2 and qwen3-vl-8b-l2 image ckpt run it: the merger outputs' gradients (masked_scatter's
    backward, one cat per merger), the main merger's backward, then the last block recomputed up to fc2's pack (the
    rotary on q and k in fp32) and its backward (the flash kernel's fp32 accumulator, the split's cats, the rotary's
    backward, stack and clone of the qkv gradient, two residual sums)."""
    from _trace_recorder import Recorder
    from memfit.memory.training.tower import tower_backward, tower_forward

    spec = _spec("families-new.jsonl", "qwen3-vl-30b-a3b-instruct-l2/train-img1-bf16-adamw-fused-ckpt-b1-s1536")
    tr = Recorder()
    c = StepContext(tr, spec, BF16, 1, 1536)
    run = tower_forward(c, 1, 4 << 30, True)
    start = len(tr.events)
    tower_backward(c, run, 1, True, 2)
    made = [n for op, n in tr.events[start:] if op == "+"]
    p, d, f, m = 4096, 1152, 1024 * 2048 * 2, 4096 * 4304 * 2
    x, x32 = p * d * 2, p * d * 4
    merger = [f, f, f, f, 1024 * 4608 * 2, 2048 * 4608 * 2, 1024 * 4608 * 2, 1024 * 4608 * 2, 4608 * 4608 * 2,
              1024 * 4608 * 2]
    rotary, rotary_back = [x32, x32 // 2, x32, x32, x32], [x32, x32 // 2, x32, x32, x32, x32, x32]
    recompute = [x, 3 * x, x32, x32, *rotary, *rotary, x, x, x, x, x, x, x, m, m]
    scratch = 4096 * 16 * 96 * 4 + 4096 * 16 * 4  # dq's fp32 accumulator (head dim padded to 96), softmax_d
    back = [m, 4304 * 1152 * 2, m, x, 1152 * 4304 * 2, x, x, x, 1152 * 1152 * 2, x, x, x, scratch, x, x, x,
            x32, x32, *rotary_back, *rotary_back, x, x, 3 * x, 3 * x, x, 3 * 1152 * 1152 * 2, x, x]
    assert scratch == 24 * MIB + MIB // 4
    assert made[:len(merger) + len(recompute) + len(back)] == merger + recompute + back
