"""A MoE block's routed experts and DeepSeek-V4's hyper-connections in a replayed training step
(``training/layer_experts.py``, ``training/layer_hc.py``): the tensors they allocate and free, sizes worked out by
hand from transformers 5.25's grouped-matmul experts path and ``DeepseekV4HyperConnection``, the order autograd
makes the experts' weight gradients in, and nothing left behind after their backward."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from _traces import Recorded
from memfit.memory.activations import Precision
from memfit.memory.training.layer_experts import grouped_experts
from memfit.memory.training.layer_hc import hc_norm, hc_post, hc_pre, hc_streams, q_norm
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec, MoESpec

V4 = Path(__file__).resolve().parent / "data" / "simulated" / "families-v4.jsonl"
MIB = 1 << 20
BF16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)


def _v4() -> ModelSpec:
    for line in V4.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("case", "").startswith("deepseek-v4-flash-e16-l4/train"):
            return spec_from_config(rec["config"], "deepseek-v4-flash-e16-l4")
    raise AssertionError("DeepSeek-V4 training case missing")


@pytest.mark.parametrize("family", ["qwen3_5_moe", "deepseek_v4"])
def test_grouped_experts_make_down_projs_gradient_first(family: str) -> None:
    """16 experts of 2,048 (h 4,096), top-6, over 2,048 bf16 tokens: 12,288 routed rows. Forward: the gathered
    rows (96 MiB), gate_up's output (96), DeepSeek-V4's two clamps (48 each), act(gate) and the product (48 each),
    down's output, × the routing weights, the rows in token order (96 each), their sum (16). Backward: down_proj's
    gradient (16 · 4,096 · 2,048 · 2 B = 256 MiB) before gate_up_proj's (512 MiB), both kept; the rest freed."""
    spec = replace(_v4(), family=family)
    m = MoESpec(num_experts=16, top_k=6, expert_intermediate_size=2048)
    tr = Recorded()
    c = StepContext(tr, spec, BF16, batch=1, seq=2048)
    run = LayerRun()
    out = grouped_experts(c, run, m, 2, up_trains=True, down_trains=True)
    wide, mid = 12288 * 4096 * 2, 12288 * 2048 * 2
    clamps = [mid, mid] if family == "deepseek_v4" else []
    assert tr.sizes == [wide, 2 * mid, *clamps, mid, mid, wide, wide, wide, 2048 * 4096 * 2]
    kept = wide + 2 * mid + len(clamps) * mid + 2 * mid + wide  # gathered, gate_up, clamps, act, product, down
    assert tr.pool.allocated == kept + 2048 * 4096 * 2
    (pos, op), = run.ops
    assert pos == 0
    g = tr.alloc(2048 * 4096 * 2)
    n = len(tr.sizes)
    left = op(c, [g])
    made = tr.sizes[n:]
    assert made.index(256 * MIB) < made.index(512 * MIB)  # down_proj's gradient first
    assert run.made == {"ffn_down_exps": run.made["ffn_down_exps"], "ffn_up_exps": run.made["ffn_up_exps"]}
    assert tr.pool.live[run.made["ffn_down_exps"]].size == 256 * MIB
    assert tr.pool.live[run.made["ffn_up_exps"]].size == 512 * MIB
    assert len(left) == 1 and tr.pool.live[left[0]].size == 2048 * 4096 * 2
    tr.free(*left, out, *run.made.values())
    assert tr.pool.allocated == 0


def test_frozen_experts_keep_neither_input() -> None:
    """Experts that do not train (adapters on attention only): down's backward needs its weight, not the product,
    and gate_up's not the gathered rows; no weight gradient is made."""
    m = MoESpec(num_experts=16, top_k=6, expert_intermediate_size=2048)
    tr = Recorded()
    c = StepContext(tr, _v4(), replace(BF16, full=False), batch=1, seq=2048)
    run = LayerRun()
    out = grouped_experts(c, run, m, 2, up_trains=False, down_trains=False)
    wide, mid = 12288 * 4096 * 2, 12288 * 2048 * 2
    assert tr.pool.allocated == 2 * mid + 2 * mid + mid + wide + 2048 * 4096 * 2  # gate_up, clamps, act, down
    (_, op), = run.ops
    left = op(c, [])
    assert run.made == {}
    tr.free(*left, out)
    assert tr.pool.allocated == 0


def test_a_checkpointed_first_forward_keeps_only_the_output() -> None:
    m = MoESpec(num_experts=16, top_k=6, expert_intermediate_size=2048)
    tr = Recorded()
    c = StepContext(tr, _v4(), BF16, batch=1, seq=2048)
    run = LayerRun(keep=False)
    out = grouped_experts(c, run, m, 2, up_trains=True, down_trains=True)
    assert run.ops == [] and tr.pool.allocated == tr.pool.live[out].size == 2048 * 4096 * 2


def test_deepseek_v4_hyper_connections() -> None:
    """DeepSeek-V4-Flash's 4 streams of h 4,096 over 2,048 bf16 tokens: 64 MiB of streams. Before the block: the
    fp32 flattened streams (128 MiB, kept), their square (a transient), the normed copy (kept), pre × streams in
    fp32 (128), its sum (32), the block input (16). After it: two 64 MiB products and the new streams. Backward:
    the streams' gradient passed from the block after to the block before, the block output's gradient
    (16 MiB) returned, the fp32 chain freed, the gradient of the streams before the block left."""
    spec = _v4()
    assert hc_streams(spec) == 4
    tr = Recorded()
    c = StepContext(tr, spec, BF16, batch=1, seq=2048)
    run = LayerRun()
    streams = tr.alloc(64 * MIB)
    x = tr.alloc(64 * MIB)  # the layer's input (kept by the step, never freed here)
    col = hc_pre(c, run, streams, x)
    assert tr.sizes[2:] == [128 * MIB, 128 * MIB, 128 * MIB, 128 * MIB, 32 * MIB, 16 * MIB]
    assert tr.pool.allocated == 2 * 64 * MIB + 2 * 128 * MIB + 16 * MIB
    out = tr.alloc(16 * MIB)  # the block's output
    tr.free(col)
    new = hc_post(c, run, streams, out, x)
    assert tr.sizes[-3:] == [64 * MIB] * 3
    assert tr.pool.allocated == 3 * 64 * MIB + 2 * 128 * MIB + 16 * MIB  # the old streams and out are kept
    (_, pre), (_, post) = run.ops
    grad = tr.alloc(64 * MIB)
    run.streams[:] = [grad, 0]
    g_out = post(c, [])
    assert [tr.pool.live[k].size for k in g_out] == [16 * MIB] and run.streams[0] == 0
    assert pre(c, g_out) == []
    g = run.streams[0]
    assert tr.pool.live[g].size == 64 * MIB
    tr.free(g, new, x)
    assert tr.pool.allocated == 0


def test_no_hyper_connections_without_their_head() -> None:
    assert hc_streams(replace(_v4(), extra=())) == 0


def test_deepseek_v4_q_norm_and_block_norm() -> None:
    """q_b_proj's output of 64 heads × 512 over 2,048 bf16 tokens (128 MiB): q_b_norm keeps q and its fp32 copy
    (256 MiB), the square a transient, and gives the normed q (128); its backward gives q_b_proj's output gradient
    (128) and frees the rest. The block norm (fp32 weights) keeps the fp32 input and normed input (32 MiB each)."""
    tr = Recorded()
    c = StepContext(tr, _v4(), BF16, batch=1, seq=2048)
    run = LayerRun()
    q = tr.alloc(128 * MIB)
    qn = q_norm(c, run, q, 64 * 512)
    assert tr.sizes[1:] == [256 * MIB, 256 * MIB, 128 * MIB]
    assert tr.pool.allocated == 128 * MIB + 256 * MIB + 128 * MIB
    (_, op), = run.ops
    tr.free(qn)
    left = op(c, [])
    assert [tr.pool.live[k].size for k in left] == [128 * MIB]
    tr.free(*left)
    assert tr.pool.allocated == 0
    _out, nb = hc_norm(c, run)
    assert nb == 2 and tr.sizes[-5:] == [32 * MIB, 32 * MIB, 32 * MIB, 32 * MIB, 16 * MIB]
    assert tr.pool.allocated == 2 * 32 * MIB + 16 * MIB and len(run.saved) == 2
