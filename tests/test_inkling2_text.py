"""Inkling-2 (transformers 5.25 models/inkling2/modeling_inkling2.py, inkling2_text), read on the generic path with
what its code does otherwise than the generic reading (issue 12, l12inkling; development case
inkling2-text-default-l2/prefill-eager-b2-s2000 in sweep-dev.jsonl, moved there from blind round 5 before its trace
was read): Inkling2-Loop's layers without the loop (the same Inkling2*SlidingAttention / FullAttention,
RelativePositionBias, eager_attention_forward with input-dependent sinks, BlockAttentionResidual and TextModel.forward
masks and relative distances), so the same replay (transformers_pool_inkling.py), and an untied output projection."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_errors, case_line, meta_bf16_build
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_inkling import own_sinks_eager
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

TINY = dict(
    model_type="inkling2_text",
    vocab_size=100,
    unpadded_vocab_size=96,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=8,
    swa_num_attention_heads=2,
    swa_num_key_value_heads=1,
    swa_head_dim=8,
    sliding_window_size=4,
    d_rel=4,
    rel_extent=8,
    layer_types=["hybrid_sliding", "hybrid_sliding"],
    moe_intermediate_size=16,
    n_routed_experts=4,
    num_experts_per_tok=2,
)
DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "inkling2-text-default-l2/prefill-eager-b2-s2000"


def test_tiny_inkling2_text_weights_by_hand() -> None:
    # Inkling2-Loop's tiny model (test_inkling2_loop.py: 26,128) without its loop's message_input.query 12·4·32 =
    # 1,536 -> 24,592; fp32 (Inkling2PreTrainedModel._keep_in_fp32_modules_strict) 2,560 - 1,536 = 1,024; bytes
    # 23,568·2 + 1,024·4 = 51,232. The lm_head (96·32 = 3,072, unpadded_vocab_size rows) is its own tensor:
    # Inkling2ForCausalLM._tied_weights_keys = {} and the config has no tie_word_embeddings field
    spec = spec_from_config(dict(TINY), "tiny-inkling2-text")
    assert not spec.tie_word_embeddings
    w = weights_breakdown(spec, "bfloat16")
    assert w.parameters == 24_592
    assert w.params_by_type["F32"] == 1_024
    assert w.total_bytes == 51_232
    assert meta_bf16_build(dict(TINY)) == (24_592, 51_232)  # transformers' own bf16 build says the same


def test_dev_case_attention_replay_by_hand() -> None:
    # the dev case's sliding layer: b 2, 48 heads, 2,000 tokens, 8 K/V heads of 128, bf16, its relative position bias
    # over the 1,024-token window (proj 16 × 1,024). At the probabilities' cast: the bias and the masked scores
    # 2 · 2·48·2000·2000·2 = 1,536,000,000; the sinks 2·48·2000·2 = 384,000; K and V repeated 2 · 2·48·2000·128·2 =
    # 98,304,000; the fp32 cat and softmax 2 · (384,000,000 + 192,000)·4 = 3,073,536,000; the probabilities
    # 768,000,000 -> 5,476,224,000 B above q; each fp32 tensor opens a segment of 733 · 2 MiB = 1,537,212,416 B and
    # keeps its whole block (the 444,416 B left is under the 1 MiB a large block is split for): 5,477,112,832 B
    spec = spec_from_config(json.loads(case_line(DEV, CASE))["config"], "dev")
    wl = Workload(mode="inference", context=2000, batch=2, attn="eager")
    tr = Trace()
    q = tr.alloc(2 * 2000 * 48 * 128 * 2)
    base = tr.pool.allocated
    probs = own_sinks_eager(tr, spec, wl, 1, 2000, q, 2)
    assert probs
    assert tr.pool.peak_allocated - base == 5_477_112_832
    assert tr.pool.allocated == base - 2 * 2000 * 48 * 128 * 2 + 768_000_000  # q gone, the probabilities held


def test_inkling2_text_development_case() -> None:
    allocated, total = case_errors(DEV, CASE)
    assert abs(allocated) < 0.001  # -2.93 % before, +0.00 % now
    assert abs(total) < 0.006  # +0.28 % before, -0.42 % now
