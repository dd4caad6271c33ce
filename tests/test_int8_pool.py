"""LLM.int8's buffers as the caching allocator sees them (transformers_pool_int8.py), worked out by hand."""

from __future__ import annotations

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.int8_outliers import (
    down_projection_bytes,
    layer_outlier_columns,
    outlier_range_note,
    random_profile,
)
from memfit.memory.runtimes.transformers_pool_int8 import int8_linear

MIB = 1 << 20


def test_one_down_projection_by_hand() -> None:
    # Mistral-7B's down projection on 2,048 bf16 rows of 14,336 features, every column an outlier (k = 14,336)
    tr = Trace()
    tr.alloc(2048 * 14336 * 2)  # its input, the caller's
    tr.built()
    int8_linear(tr, 2048, 14336, 4096, 2, 14336)
    # quantization: fp16 copy 56 MiB, row scales 8 KiB, int8 codes 28 MiB, |A| 56 MiB, mask 28 MiB (176,177,152 B),
    # then the copy, |A| and the mask go: scales + codes = 29,368,320 B. Outliers: subA 2048×14336×2 = 56 MiB,
    # CB[:, cols] 4096×14336 = 56 MiB, A·stats and ·1/127 fp32 4096×14336×4 = 224 MiB each: the peak,
    # 29,368,320 + 58,720,256 + 58,720,256 + 2 × 234,881,024 = 616,570,880 B beyond the input
    peak = 29_368_320 + 58_720_256 + 58_720_256 + 2 * 234_881_024
    assert peak == 616_570_880
    assert tr.pool.peak_allocated - 2048 * 14336 * 2 == peak
    # the allocated formula's down projection (transformers.py) counts the same tensors with the input, not the
    # 8 KiB of row scales
    assert down_projection_bytes(2048, 14336, 4096, 14336) == peak - 8192 + 2048 * 14336 * 2
    # what is left: the input and the 2048×4096 bf16 output (16 MiB)
    assert tr.pool.allocated == 2048 * 14336 * 2 + 2048 * 4096 * 2


def test_projection_without_outliers_by_hand() -> None:
    # q_proj on 2,048 rows of 4,096: the quantization is its peak (fp16 copy 16 MiB, scales 8 KiB, codes 8 MiB,
    # |A| 16 MiB, mask 8 MiB = 50,339,840 B); the int32 product (32 MiB), its fp16 (16 MiB) and bf16 (16 MiB)
    # results come after the copy, |A| and the mask are gone (8,396,800 + 67,108,864 = 75,505,664 B: the peak)
    tr = Trace()
    int8_linear(tr, 2048, 4096, 4096, 2)
    assert tr.pool.peak_allocated == 8_396_800 + 33_554_432 + 2 * 16_777_216
    assert tr.pool.allocated == 16 * MIB


def test_more_outlier_columns_than_any_layer_before_make_new_segments() -> None:
    # 13,425 columns: fp32 buffers of 4096×13425×4 = 209.8 MiB (210 MiB segments); 14,169: 221.4 MiB, which the
    # cached 210 MiB blocks cannot hold; a third call with 13,425 again fits the cached blocks
    tr = Trace()
    x = tr.alloc(2048 * 14336 * 2)
    tr.free(int8_linear(tr, 2048, 14336, 4096, 2, 13425))
    first = tr.pool.reserved
    tr.free(int8_linear(tr, 2048, 14336, 4096, 2, 13425))
    assert tr.pool.reserved == first
    tr.free(int8_linear(tr, 2048, 14336, 4096, 2, 14169))
    assert tr.pool.reserved >= first + 2 * 222 * MIB  # two new fp32 segments at least
    tr.free(x)


def test_random_profile_only_for_the_computed_model() -> None:
    from memfit.sources.hf_config import spec_from_config

    mistral = {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
               "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000}
    spec = spec_from_config(mistral, "mistral-7b-v0.1")
    profile = random_profile(spec, 2048)
    assert profile is not None and len(profile) == 32
    assert profile[0] < profile[1] < profile[2] <= 14336  # the first layers' rows are correlated: fewer columns
    assert layer_outlier_columns(spec, 2048, "random") == profile
    assert layer_outlier_columns(spec, 2048, "all") == [14336] * 32
    assert layer_outlier_columns(spec, 2048, "trained") == [15] * 32
    assert random_profile(spec, 4096) is None  # another prompt length: no profile, every column
    assert layer_outlier_columns(spec, 4096, "random") == [14336] * 32
    assert "randomly initialised weights (--int8-outliers random)" in outlier_range_note(2048, 14336, 4096, "random")
