"""vLLM's KV cache groups (sliding beside full attention) and its 'auto' KV cache dtype, worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import memfit
from memfit.hardware import get_device
from memfit.memory.kv_cache import LayerCache, cache_layers
from memfit.memory.runtimes.vllm import auto_kv_dtype
from memfit.memory.runtimes.vllm_groups import kv_groups
from memfit.sources.loader import load_model

GIB = 2**30


def test_gemma3_groups_pad_the_sliding_bucket() -> None:
    # Gemma-3-27B: 62 layers, every sixth full attention (layers 5, 11, ..., 59: 10), 52 sliding; group size is the
    # smaller bucket (10; 52 is not under 1.5 x 10), so the sliding bucket takes cdiv(52, 10) = 6 groups (8 padding
    # layers) and the full one 1: 7 groups of 10
    layers = cache_layers(load_model("gemma-3-27b-it"), "vllm", "bfloat16")
    assert sum(c.window is None for c in layers) == 10
    g = kv_groups(layers)
    assert g is not None and (g.size, g.count) == (10, 7)
    assert sorted(n for _, n in g.buckets) == [1, 6]


def test_even_buckets_and_single_kind() -> None:
    # gpt-oss-20b alternates sliding and full layers (12 + 12): one group of 12 each, no padding
    g = kv_groups(cache_layers(load_model("gpt-oss-20b"), "vllm", "bfloat16"))
    assert g is not None and (g.size, g.count) == (12, 2)
    # 12 sliding + 13 full (a drafter's extra layer): 13 < 1.5 x 12, so groups of 13 (the comment's example)
    full = [LayerCache(i, "full", 64) for i in range(13)]
    sliding = [LayerCache(13 + i, "sliding", 64, window=128) for i in range(12)]
    g = kv_groups(full + sliding)
    assert g is not None and (g.size, g.count) == (13, 2)
    assert kv_groups(cache_layers(load_model("llama-3.1-8b"), "vllm", "bfloat16")) is None
    assert kv_groups([replace(c, per_token=c.per_token * (1 + (c.layer % 2))) for c in full]) is None


def test_gemma3_tokens_are_the_blocks_over_the_groups() -> None:
    # on one H100 (79.19 GiB) at 0.95 the printed tokens are (pool // (16 x 8,192 B x 10)) // 7 x 16 and the
    # concurrency the blocks over one request's: 512 full + 6 x (8,192 / 16 + 1) sliding = 3,590
    e = memfit.estimate("gemma-3-27b-it", device=get_device("h100-sxm", memory=round(79.19 * GIB)), mode="inference",
                        runtime="vllm", context=8192, gpu_memory_utilization=0.95, vllm_version="0.19.0")
    pool = int(e.details["kv_pool_bytes"])
    blocks = pool // (16 * 8192 * 10)
    assert e.details["num_gpu_blocks"] == blocks
    assert e.details["kv_cache_tokens"] == blocks // 7 * 16
    assert e.details["max_concurrency"] == round(blocks / 3590, 2)


def test_auto_kv_cache_dtype_follows_the_model() -> None:
    assert [auto_kv_dtype(f) for f in ("float32", "float16", "bfloat16", "fp8", "awq")] == [
        "float32", "float16", "bfloat16", "bfloat16", "bfloat16"]
    # Llama-3.1-8B served --dtype float32: 32 layers x 8 KV heads x 128 x 2 (K, V) x 4 B = 262,144 B per token
    e = memfit.estimate("llama-3.1-8b", device=get_device("h100-sxm"), mode="inference", runtime="vllm",
                        context=8192, dtype="float32", vllm_version="0.19.0")
    assert e.details["block_bytes"] == 16 * 262_144


def test_allocator_remainders_of_a_16_bit_load() -> None:
    # vLLM's "Model loading took" is allocated bytes; a tensor of 10 MiB or more takes a segment rounded up to 2 MiB
    # and keeps a remainder of at most 1 MiB (CUDACachingAllocator should_split). Qwen2.5-72B at tp 2 per rank: qkv
    # (4,096 + 2 x 512) x 8,192 x 2 B = 80 MiB, o 64 MiB, gate_up 462 MiB, embedding 1,188 MiB are exact; down
    # 14,784 x 8,192 x 2 B = 231 MiB is counted as 232: 80 layers x 1 MiB
    from memfit.memory.runtimes.vllm import rope_cache_bytes
    from memfit.memory.runtimes.vllm_load import allocator_remainder_bytes

    q72 = load_model("qwen2.5-72b")
    assert allocator_remainder_bytes(q72, "bfloat16", 2, rope_cache_bytes(q72, "bfloat16")) == 80 * 2**20
    # Qwen2.5-32B at tp 2: qkv (2,560 + 2 x 512) x 5,120 x 2 B = 35 MiB, o 25 MiB and down 135 MiB each end 1 MiB short
    # of a 2 MiB boundary (+1 MiB each, 64 layers); the 742.5 MiB embedding shards keep 1.5 MiB apart (split off)
    q32 = load_model("qwen2.5-32b")
    assert allocator_remainder_bytes(q32, "bfloat16", 2, rope_cache_bytes(q32, "bfloat16")) == 64 * 3 * 2**20
    # Llama-3.1-8B's tensors are multiples of 2 MiB
    l8 = load_model("llama-3.1-8b")
    assert allocator_remainder_bytes(l8, "bfloat16", 1, rope_cache_bytes(l8, "bfloat16")) == 0
    # 8-bit linear weights (1 B per element, loaded in place; embeddings 16-bit). Qwen2.5-72B fp8 at tp 2 per rank:
    # qkv 40 MiB and o 32 MiB exact, gate_up 2 x 14,784 x 8,192 B = 231 MiB counted as 232, down 115.5 MiB as 116,
    # embedding and lm_head 1,188 MiB exact: 80 layers x 1.5 MiB
    assert allocator_remainder_bytes(q72, "fp8", 2, 0) == 80 * 3 * 2**19
    # Qwen2.5-7B int8 at tp 1: qkv 4,608 x 3,584 B = 15.75 MiB -> 16, gate_up 37,888 x 3,584 B = 129.5 MiB -> 130
    # (o 12.25 and down 64.75 MiB keep 1.75 / 1.25 MiB apart, split off): 28 x 0.75 MiB; the 16-bit embedding and
    # lm_head, 152,064 x 3,584 x 2 B = 1,039.5 MiB each, +0.5 MiB each; the 8 MiB rotary cache is exact
    q7 = load_model("qwen2.5-7b-instruct")
    assert allocator_remainder_bytes(q7, "int8", 1, rope_cache_bytes(q7, "bfloat16")) == 22 * 2**20
    # other quantized formats (AWQ / GPTQ repacked for Marlin, GGUF) count their tensor bytes
    assert allocator_remainder_bytes(q7, "awq", 1, 0) == 0


def test_rope_tables_of_a_linear_scaled_model_with_local_layers() -> None:
    # vLLM's get_rope keys instances by rotary size and rope parameters: gemma-3's global layers take a linear rope of
    # factor 8, cached over max_position x factor rows (linear_scaling_rope.py), its sliding layers their own default
    # rope (gemma3.py, rope_local_base_freq). Gemma-3-27B: 131,072 x 8 x 128 x 2 B = 256 MiB + 131,072 x 128 x 2 B
    # = 32 MiB, in bfloat16
    from memfit.memory.runtimes.vllm import rope_cache_bytes
    from memfit.sources.families.dense import gemma3_text

    g27 = load_model("gemma-3-27b-it")
    assert (g27.rope_linear_factor, g27.rope_local_base) == (8.0, True)
    assert rope_cache_bytes(g27, "bfloat16") == 288 * 2**20
    # a transformers 5 config keys the rope by layer type; no scaling: one table per base, each of max_position rows
    cfg = {"hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26, "num_attention_heads": 4,
           "num_key_value_heads": 1, "head_dim": 256, "max_position_embeddings": 32_768, "sliding_window": 512,
           "vocab_size": 262_144, "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                                      "sliding_attention": {"rope_type": "default"}}}
    g1 = gemma3_text(cfg, "gemma-3-1b-like")
    assert (g1.rope_linear_factor, g1.rope_local_base) == (1.0, True)
    assert rope_cache_bytes(g1, "bfloat16") == 2 * 32_768 * 256 * 2
    # Llama-3.1-8B: one table (its llama3 rope is not linear)
    l8 = load_model("llama-3.1-8b")
    assert (l8.rope_linear_factor, l8.rope_local_base) == (1.0, False)
    assert rope_cache_bytes(l8, "bfloat16") == 131_072 * 128 * 2
