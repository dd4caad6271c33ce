"""DeepSeek-V4's rotary in the training replay (training/layer_hc.py ``dsv4_rope``), as transformers 5.25
models/deepseek_v4/modeling_deepseek_v4.py ``apply_rotary_pos_emb`` runs it on q, on the K=V projection and, with
``-sin``, on the attention output (``DeepseekV4Attention.forward``): the trailing rope channels of each head in fp32
(``rope.float() * cos + rotate_half(rope).float() * sin``), cast back and concatenated with the pass-through
channels. Found on the development case deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-ckpt-b1-s2048
(families-v4.jsonl) against the simulator's allocation trace (tools/replay_diff.py)."""

from __future__ import annotations

import json
from pathlib import Path

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_hc import dsv4_rope
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.memory.training.layer_stream import layer_forward
from memfit.sources.hf_config import spec_from_config
from test_dsv4_indexer_grads import TINY

MIB = 1 << 20
CASE = "deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-ckpt-b1-s2048"
BF16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)


def test_rope_by_hand() -> None:
    """8 tokens, 2 heads of 8 channels, 4 of them rotary, bf16: the rotary part 8 x 2 x 4 = 64 elements (256 B in
    fp32, 128 B in bf16, rotate_half's negated half 64 B), the whole 8 x 16 x 2 = 256 B. Forward: the fp32 copy,
    x cos, neg, stack, the fp32 copy, x sin, the sum, the cast, the cat; only the cat's output stays. Backward: the
    cast's fp32 gradient, x sin, cast back, neg, two slice_backward, their sum, x cos, cast back, the two paths'
    sum, the two slice_backward to the whole width, their sum; only that sum stays."""
    spec = spec_from_config(TINY)
    tr = Requested()
    c = StepContext(tr, spec, BF16, 1, 8)
    run = LayerRun(keep=True)
    x = tr.alloc(256)
    out = dsv4_rope(c, run, 2, 4, 16, x)
    assert tr.sizes[1:] == [256, 256, 64, 128, 256, 256, 256, 128, 256]
    assert tr.live == {out: 256}
    ((_pos, backward),) = run.ops
    tr.sizes.clear()
    g = tr.alloc(256)
    (total,) = backward(c, [g])
    assert tr.sizes[1:] == [256, 256, 128, 64, 128, 128, 128, 256, 128, 128, 256, 256, 256]
    assert tr.live == {out: 256, total: 256}


def test_development_layer_makes_the_traces_rotary() -> None:
    """Layer 0 of the development case, checkpointed (its first forward keeps nothing), 2,048 tokens: q's rotary
    over 64 heads x 64 rope channels (32 MiB in fp32, 16 in bf16, the negated half 8) and its cat (64 x 512 channels,
    128 MiB) as the simulator's trace makes them (its events 773-788), the one K=V projection and its rotary's cat
    (2 MiB each, events 793 and 827: no separate V projection) and the output's rotary undone the same way (events
    856-871). The old replay made q's rotary in
    bf16 (16, 8, 16, 16, 16 and the 128 MiB cat), a V projection and no rotary on the output."""
    rec = next(json.loads(x) for x in (Path(__file__).parent / "data/simulated/families-v4.jsonl").open() if CASE in x)
    spec = spec_from_config(rec["config"], rec["model"])
    acts = model_activations(spec, BF16, 1, 2048)
    tr = Requested()
    c = StepContext(tr, spec, BF16, 1, 2048)
    x = tr.alloc(2048 * spec.hidden_size * 2)
    layer_forward(c, spec.layers[0], acts.layers[0], x, keep=False)
    sizes = [n // MIB for n in tr.sizes if n > MIB]
    chain = [32, 32, 8, 16, 32, 32, 32, 16, 128]
    starts = [i for i in range(len(sizes)) if sizes[i : i + len(chain)] == chain]
    assert len(starts) == 2  # q's, then the output's
    # the K=V projection (2,048 x 512 x 2 B = 2 MiB) and its rotary's cat (its fp32 parts, 0.5 MiB, in the small
    # pool), then the scores (64 x 2,048 x 2,048 x 2 B = 512 MiB): no separate V projection
    assert sizes[starts[0] + len(chain) : starts[0] + len(chain) + 3] == [2, 2, 512]
