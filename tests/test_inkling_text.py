"""Inkling (transformers 5.25 models/inkling/modeling_inkling.py, model type inkling_text) read with what its code
does otherwise than the generic reading (issue 12, l12inkling; development case
inkling-text-default-l2/gen-b3-s4000-new8 in sweep-dev.jsonl, moved there from blind round 5 before its trace was
read): its untied output projection, its relative position bias of the scores' shape under SDPA, and its sliding
layers' own head counts (swa_num_attention_heads, swa_num_key_value_heads, swa_head_dim)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from _simulated import case_errors, case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.inference import estimate_inference
from memfit.memory.kv_cache import kv_cache
from memfit.memory.runtimes.transformers_inkling_text import rel_logits_sdpa_moment, rel_logits_sdpa_pool
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case
from memfit.workload import Workload

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "inkling-text-default-l2/gen-b3-s4000-new8"
WL = workload_for_case("generate", {"batch": 3, "seq": 4000, "new": 8}).validate()


def _spec():  # type: ignore[no-untyped-def]
    return spec_from_config(json.loads(case_line(DEV, CASE))["config"], "dev")


def test_inkling_text_is_never_tied() -> None:
    # InklingForCausalLM._tied_weights_keys = {} and the config has no tie_word_embeddings field
    assert not _spec().tie_word_embeddings


def test_sliding_layers_read_their_own_heads() -> None:
    # InklingAttention.__init__: num_key_value_heads = config.swa_num_key_value_heads if self.is_sliding (16 in the
    # default config, num_key_value_heads 8 on the full layers): the dev case's two sliding layers cache 16 K/V heads
    # of 128, 16·128·2·2 = 8,192 B a token; after the decode 3 sequences × 2 layers × 511 tokens (the window - 1)
    # × 8,192 = 25,116,672 B, the simulator's kv_cache_bytes_final (12,558,336 with 8 heads before)
    spec = _spec()
    assert [(a.num_heads, a.num_kv_heads, a.head_dim) for a in (la.attention for la in spec.layers) if a] == [
        (64, 16, 128),
        (64, 16, 128),
    ]
    assert kv_cache(spec, 4008, 3).bytes == 25_116_672 == json.loads(case_line(DEV, CASE))["kv_cache_bytes_final"]
    # a tiny Inkling-2 with one sliding and one full layer: the sliding layer 4 heads, 2 K/V heads of 8 (64 B a token,
    # its window - 1 = 3 tokens kept), the full one 2 heads, 1 K/V head of 8 (32 B a token, all 10): 3·64 + 10·32 =
    # 512 B (416 when the sliding layer read the full layer's heads)
    tiny = spec_from_config(
        dict(
            model_type="inkling2_text",
            vocab_size=100,
            unpadded_vocab_size=96,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=8,
            swa_num_attention_heads=4,
            swa_num_key_value_heads=2,
            swa_head_dim=8,
            sliding_window_size=4,
            layer_types=["hybrid_sliding", "hybrid"],
            moe_intermediate_size=16,
            n_routed_experts=4,
            num_experts_per_tok=2,
        ),
        "tiny-inkling2",
    )
    assert [(a.num_heads, a.num_kv_heads, a.head_dim) for a in (la.attention for la in tiny.layers) if a] == [
        (4, 2, 8),
        (2, 1, 8),
    ]
    assert kv_cache(tiny, 10, 1).bytes == 512


def test_sdpa_moment_by_hand() -> None:
    # 3 sequences of 4,000 tokens, 64 heads of 128, 16 K/V heads (the sliding layers'), bf16; d_rel 16, rel_extent 512
    # (the sliding window): q 12,000·64·128·2 = 196,608,000; the gathered and the filled bias 2 · 3·64·4000·4000·2 =
    # 12,288,000,000; at the masked_fill relative_states 12,000·64·16·2 = 24,576,000, rel_logits 12,000·64·512·2 =
    # 786,432,000, the int64 distance and index 2 · 4000·4000·8 = 256,000,000 and the condition 16,000,000
    # (1,083,008,000 > repeated K/V 393,216,000 + output 196,608,000 + relative_states) -> 13,567,616,000. k and v
    # are the cache's: cache.update's torch.cat copies (DynamicSlidingWindowLayer.update keeps a view of them; the
    # trace frees the projected k and v after the two cats), counted with the cache, not here (49,152,000 more before)
    spec = _spec()
    att = spec.layers[0].attention
    assert att is not None
    got = rel_logits_sdpa_moment(spec, 0, att, WL, 3, 4000, 4000, 2)
    assert got is not None and got[0] == 13_567_616_000
    # a forward without a cache holds its own k and v, 12,000·16·256·2 = 98,304,000
    fwd = workload_for_case("forward", {"batch": 3, "seq": 4000}).validate()
    got = rel_logits_sdpa_moment(spec, 0, att, fwd, 3, 4000, 4000, 2)
    assert got is not None and got[0] == 13_665_920_000
    eager = Workload(mode="inference", context=4000, batch=3, attn="eager")
    assert rel_logits_sdpa_moment(spec, 0, att, eager, 3, 4000, 4000, 2) is None


def test_dev_case_activations_by_hand() -> None:
    # the prefill attention is the peak: 442,368,000 stream + 13,567,616,000 + 22,336,000 masks/rope/inputs (the
    # sliding-window bool mask one sequence's 4,000 x 4,000 = 16,000,000: the batch an expanded view, l12small)
    # (the generic reading took the MLP's 4,355,136,000), beside the prefill's cache of 16 K/V heads, 3 × 2 layers
    # × 4,000 tokens × 8,192 B = 196,608,000 (the view keeps the whole cat alive until the first decoding step)
    est = estimate_inference(_spec(), WL)
    act = next(c for c in est.components if c.name == "activations")
    assert act.bytes == 14_032_320_000
    kv = next(c for c in est.components if c.name == "kv_cache")
    assert kv.bytes == 196_608_000


def test_pool_replay_by_hand() -> None:
    # above q, at the masked_fill, each request in a new segment (its size rounded up to 2 MiB; the block is split
    # only when the rest is over 1 MiB, else handed out whole): relative_states 24,576,000 -> 25,165,824 whole,
    # rel_logits 786,432,000 (375 MiB), distance and index 2 · 128,000,000 (split), the gathered bias 6,144,000,000
    # -> 6,144,655,360 whole, the condition 16,000,000 -> 16,777,216 whole (its two operands freed), the filled bias
    # 6,144,655,360 -> 13,373,685,760 (at torch.where the gathered bias, the indices and rel_logits are gone: the
    # mask, the repeated K/V and the output stay under it)
    tr = Trace()
    q = tr.alloc(196_608_000)
    base = tr.pool.allocated
    assert rel_logits_sdpa_pool(tr, _spec(), WL, 0, 4000, q, 2)
    assert tr.pool.peak_allocated - base == 13_373_685_760
    assert tr.pool.allocated == 0  # q and every temporary gone


def test_inkling_text_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    assert row.relative_error is not None and abs(row.relative_error) < 0.002  # allocated: -12.50 % before, +0.05 %
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.015  # device total: -18.30 % before, -0.85 % now


TRAIN_DEV = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
LORA = "inkling-text-default-l2/lora-r16-attn-b2-s1536"


def test_lora_keeps_the_bias_mask_by_hand() -> None:
    # training under SDPA: the memory-efficient kernel's node keeps its attn_bias, torch.where's mask of the scores'
    # shape: 2 sequences × 64 heads × 1,536² × 2 B = 603,979,776 B a layer, where activations.py counted the sliding
    # window's 2 × 1,536² × 2 = 9,437,184 B float mask: 594,542,592 B more a layer; within the window (500 tokens, no
    # window mask) the whole 2·64·500²·2 = 64,000,000 B; eager: nothing here
    from memfit.memory.runtimes.transformers_inkling_text import rel_bias_saved_bytes

    spec = spec_from_config(json.loads(case_line(TRAIN_DEV, LORA))["config"], "dev")
    att = spec.layers[1].attention
    assert rel_bias_saved_bytes(spec, att, "sdpa", 2, 1536, 2) == 594_542_592
    assert rel_bias_saved_bytes(spec, att, "sdpa", 2, 500, 2) == 64_000_000
    assert rel_bias_saved_bytes(spec, att, "eager", 2, 1536, 2) == 0
    # the dev case's saved activations at the loss's backward: 2,822,418,432 B before + 2 layers × 594,542,592, and
    # InklingAttention's per-head q_norm / k_norm (InklingRMSNorm: the fp32 input kept for the backward) 64 + 16 heads
    # × (128 × 4 + 4) B = 41,280 B a token, × 3,072 tokens × 2 layers = 253,624,320 B -> 4,265,127,936 B
    assert spec.layers[0].attention is not None and spec.layers[0].attention.qk_norm == "head"
    wl = workload_for_case("lora", json.loads(case_line(TRAIN_DEV, LORA))["params"]).validate()
    training = importlib.import_module("memfit.memory.training")
    act = next(c for c in training.estimate_training(spec, wl).components if c.name == "activations")
    assert act.bytes == 4_265_127_936


def test_inkling_text_lora_development_case() -> None:
    allocated, total = case_errors(TRAIN_DEV, LORA)
    assert abs(allocated) < 0.01  # -2.73 % before, -0.84 % now (the fp32 short-convolution and norm copies open)
    assert abs(total) < 0.01  # -2.72 % before, -0.77 % now
