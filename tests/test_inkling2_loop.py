"""Inkling2-Loop (transformers 5.25 models/inkling2_loop/modeling_inkling2_loop.py), read on the generic path with
what its code does otherwise than the generic reading (issue 12, l12inkling; development case
inkling2-loop-text-default-l2/gen-eager-b2-s2048-new8 in sweep-dev.jsonl, moved there from blind round 5 before its
trace was read): its fp32-kept parameters, its untied output projection, its eager attention's relative position
bias and input-dependent sinks, its two masks and relative distances, its block attention residual."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _simulated import case_line, meta_bf16_build, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers import _attn_transient, _mask_bytes
from memfit.memory.runtimes.transformers_pool_inkling import block_states_bytes, own_sinks_eager
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

TINY = dict(model_type="inkling2_loop_text", vocab_size=100, unpadded_vocab_size=96, hidden_size=32,
            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=8, swa_num_attention_heads=2,
            swa_num_key_value_heads=1, swa_head_dim=8, sliding_window_size=4, d_rel=4, rel_extent=8,
            layer_types=["hybrid_sliding", "hybrid_sliding"], moe_intermediate_size=16, n_routed_experts=4,
            num_experts_per_tok=2)
DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "inkling2-loop-text-default-l2/gen-eager-b2-s2048-new8"


def test_tiny_inkling2_loop_weights_by_hand() -> None:
    # layer 0: mlp_input.query 32; q_proj 32·16 = 512 + its clip scale 2·8 = 16; k and v 32·8 = 256 each + their
    # short convolutions 8·4 = 32 each; o_proj's gate 32·16 = 512 and linear 16·32 = 512; sink_proj 2·32 = 64; the
    # relative position bias: proj d_rel × rel_extent (the sliding window) 4·4 = 16, linear 32·8 = 256, scale 2·4 = 8;
    # experts gate_up 4·32·32 = 4,096, down 4·32·16 = 2,048, router 4·32 = 128; two norms 64; the post-attention and
    # post-MLP convolutions 2·32·4 = 256 -> 9,096; layer 1 the same + attention_input.query 32 -> 9,128; embeddings
    # 100·32 = 3,200 + their norm 32, the final norm 32, final_input.query 32, message_input.query 12·4·32 = 1,536,
    # lm_head 96·32 = 3,072 (unpadded_vocab_size rows, never tied) -> 7,904; total 26,128.
    # fp32 (Inkling2LoopPreTrainedModel._keep_in_fp32_modules_strict): layer 0 32 + 64 + 128 + 256 = 480, layer 1
    # 512, final_input 32 + message_input 1,536 -> 2,560; bytes 23,568 · 2 + 2,560 · 4 = 57,376
    spec = spec_from_config(dict(TINY), "tiny-inkling2-loop")
    assert not spec.tie_word_embeddings
    w = weights_breakdown(spec, "bfloat16")
    assert w.parameters == 26_128
    assert w.params_by_type["F32"] == 2_560
    assert w.total_bytes == 57_376
    assert meta_bf16_build(dict(TINY)) == (26_128, 57_376)  # transformers' own bf16 build says the same


@pytest.mark.parametrize("model_type", ["inkling2_loop_text", "inkling2_text"])
def test_eager_moment_by_hand(model_type: str) -> None:
    # 1 sequence of 10 tokens, 2 heads of 8, 1 K/V head, bf16, eager: q 20 rows · 8 · 2 = 320; K and V repeated to
    # every head 2·10·(8 + 8)·2 = 640; the sink logits 20·2 = 40; per score the bias and the masked scores (2 + 2),
    # the fp32 cat and its softmax (4 + 4) and the probabilities (2): 14 · 2·10·10 = 2,800; the sink column of the
    # cat and the softmax 2·20·4 = 160 -> 3,960 (the generic bf16 eager reading: 10 B a score). Inkling-2
    # (inkling2_text, test_inkling2_text.py) runs the same layers and TextModel.forward masks without the loop
    spec = spec_from_config({**TINY, "model_type": model_type}, f"tiny-{model_type}")
    att = spec.layers[1].attention
    assert att is not None
    wl = Workload(mode="inference", context=10, batch=1, attn="eager")
    got, _ = _attn_transient(att, wl, 1, 10, 2, True, False, model_type)
    assert got == 3_960
    # both masks (full and sliding, built whatever the layer types) 2 · 10·10·2 = 400 and both int64 relative
    # distances 2 · 10·10·8 = 1,600
    assert _mask_bytes(spec, wl, 1, 10, 2) == 2_000
    # layer 1 reads its attention input (fp32 10·32·4 = 1,280) from the one block before it (10·32·2 = 640)
    assert block_states_bytes(spec, 1, 10, 32, 2) == (640, 1_280)
    assert block_states_bytes(spec, 0, 10, 32, 2) == (0, 0)


def test_dev_case_attention_replay_by_hand() -> None:
    # the dev case's layer: b 2, 24 heads, 2,048 tokens, 8 K/V heads of 128, bf16. The relative position bias has the
    # scores' shape, 2·24·2048·2048 · 2 = 402,653,184 B (384 MiB). At the probabilities' cast: the bias and the masked
    # scores 2 · 402,653,184; the sinks 2·24·2048 · 2 = 196,608; K and V repeated 2 · 2·24·2048·128·2 = 50,331,648;
    # the fp32 cat and softmax 2 · (201,326,592 + 98,304) · 4 = 1,611,399,168; the probabilities 402,653,184
    # -> 2,869,886,976 B above q (every size a multiple of the allocator's 512 B)
    spec = spec_from_config(json.loads(case_line(DEV, CASE))["config"], "dev")
    wl = Workload(mode="inference", context=2048, batch=2, attn="eager")
    tr = Trace()
    q = tr.alloc(2 * 2048 * 24 * 128 * 2)
    base = tr.pool.allocated
    probs = own_sinks_eager(tr, spec, wl, 1, 2048, q, 2)
    assert probs
    assert tr.pool.peak_allocated - base == 2_869_886_976
    assert tr.pool.allocated == base - 2 * 2048 * 24 * 128 * 2 + 402_653_184  # q gone, the probabilities held


def test_inkling2_loop_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    assert row.relative_error is not None and abs(row.relative_error) < 0.002  # allocated: -10.28 % before, +0.02 %
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.012  # device total: -11.23 % before, -0.70 % now
