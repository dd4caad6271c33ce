"""CPM-Ant's training step in the training pool, replayed op by op as transformers 5.25
models/cpmant/modeling_cpmant.py runs it (memory/training/layer_cpmant.py), checked by hand on the development case
cpmant-default-l2/train-bf16-adamw-fused-eager-b2-s480 (train-sweep-dev.jsonl)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_cpmant import cpmant_forward, replays_cpmant
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.pool import _LargePool, training_pool
from memfit.memory.training.states import ModelStates, model_states
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.validate import workload_for_case
from memfit.workload import Workload

DEV = Path(__file__).parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CASE = "cpmant-default-l2/train-bf16-adamw-fused-eager-b2-s480"
MIB = 2**20


def _record() -> dict[str, object]:
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == CASE:
            return r  # type: ignore[no-any-return]
    raise AssertionError(CASE)


def _case() -> tuple[dict[str, object], ModelSpec, Workload, ModelStates]:
    r = _record()
    spec = spec_from_config(r["config"], "cpmant")  # type: ignore[arg-type]
    wl = workload_for_case("train", dict(r["params"])).validate()  # type: ignore[call-overload]
    return r, spec, wl, model_states(spec, wl)


def test_cpmant_training_forward_keeps_by_hand() -> None:
    _r, spec, wl, states = _case()
    tr = _LargePool()
    c = StepContext(tr, spec, states.precision, wl.batch, wl.context, ckpt=False)
    assert replays_cpmant(c)
    run = cpmant_forward(c)
    # the layers run on 480 + 32 prompt tokens: a hidden-sized bf16 tensor 2 x 512 x 4,096 x 2 B = 8 MiB (16 MiB in
    # fp32), an FFN-sized one 2 x 512 x 10,240 x 2 B = 20 MiB, a score-sized one 2 x 32 x 512 x 512 x 2 B = 32 MiB,
    # masked_fill's bool mask 2 x 512 x 512 B = 0.5 MiB
    assert run.big_s == 512
    # each layer keeps: its input, the attention norm's fp32 upcast (16), its cast and output (8 + 8), the cache's
    # k and v and the query's copy (3 x 8), the softmax and the second masked_fill (2 x 32), the context's copy (8),
    # the stream after attention (8), the FFN norm's 16 + 8 + 8, w_0, GELU, w_1 and the product (4 x 20), two masks
    layer = 8 + 16 + 8 + 8 + 3 * 8 + 2 * 32 + 8 + 8 + 16 + 8 + 8 + 4 * 20 + 2 * 0.5
    assert layer == 257
    # then the bias index (int32 2 x 512 x 512 = 2 MiB), the output norm's 16 + 8, the last layer's output (8), the
    # LM head's copy of the 480 tokens (2 x 480 x 4,096 x 2 B = 7.5 MiB) and the bf16 log-softmax
    # (2 x 480 x 30,720 x 2 B = 56.25 MiB); the segment embedding, the mask and the bias's copy went with the model
    assert tr.pool.allocated == (2 * layer + 2 + 16 + 8 + 8 + 7.5 + 56.25) * MIB


def test_cpmant_training_step_segments_by_hand() -> None:
    r, spec, wl, states = _case()
    p = replace(states.precision, kv_cache=True)
    f = training_pool(spec, wl, states, model_activations(spec, p, wl.batch, wl.context))
    assert f.reserved_after_build == 1288 * MIB
    # new segments (requests under 10 MiB share 20 MiB segments): the embeddings 2 x 20, the bias's F.embedding and
    # copy 2 x 32; layer 0: 2 x 20 (projections, cache copies), the scores and / sqrt(d) 2 x 32, a 2 MiB small
    # segment (the masks), the norm's fp32 2 x 16, the FFN 4 x 20, 20 (w_out, the add), the FFN norm 2 x 16: 270;
    # layer 1 the same without the small segment: 268. The logits, log-softmax and its gradient 3 x 58 (56.25
    # rounded to 2 MiB); lm_head's gradient 240; the FFN weights' gradients 6 x 80; the bias gradient's sum (layer
    # 0) 32; relative_attention_bias's sort buffer 80 (524,288 indices x (32 x 4 + 32) B); the input embedding's
    # gradient 248; AdamW's states at the first step 2,320 (4 x 32 + 6 x 80 + 8 x 32 + 6 x 80 + 2 x 248 + 2 x 240:
    # the rest reuse freed segments); the second step's input embedding gradient 248 (its first is an AdamW state's).
    # The generic layer's replay reached 5,658 MiB; the simulator's trace reserves 5,758 (its build and bias
    # temporaries make three 2 MiB small segments more)
    forward = 2 * 20 + 2 * 32 + 270 + 268
    backward = 3 * 58 + 240 + 6 * 80 + 32 + 80 + 248
    assert f.peak_reserved == (1288 + forward + backward + 2320 + 248) * MIB
    assert r["peak_reserved"] == 5758 * MIB
