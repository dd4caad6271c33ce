"""KV cache formulas: exact bytes worked out by hand from each architecture."""

from __future__ import annotations

import pytest

from memfit.errors import ConfigError
from memfit.memory.kv_cache import kv_bytes_per_token, kv_cache_bytes, kv_dtype, ssm_state_bytes
from memfit.sources.loader import load_model
from memfit.spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, SSMSpec


def _model(att: AttentionSpec, layers: int) -> ModelSpec:
    layer = LayerSpec("attention", att, mlp=MLPSpec(1024))
    return ModelSpec("t", "llama", 4096, 32000, tuple([layer] * layers))


def test_gqa_llama_31_8b() -> None:
    # 2 (K, V) × 32 layers × 8 kv heads × 128 head_dim × 2 bytes
    spec = load_model("llama-3.1-8b")
    assert kv_bytes_per_token(spec) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_cache_bytes(spec, 8192, 1) == 1024**3  # 1 GiB per 8,192 tokens


def test_mha_llama_2_7b() -> None:
    spec = load_model("llama-2-7b-hf")  # 32 layers, 32 heads = kv heads, head_dim 128
    assert kv_bytes_per_token(spec) == 2 * 32 * 32 * 128 * 2 == 524_288


def test_mqa_one_kv_head() -> None:
    spec = _model(AttentionSpec(71, 1, 64), 32)  # Falcon-7B shape
    assert kv_bytes_per_token(spec, dtype="fp16") == 2 * 32 * 1 * 64 * 2 == 8192


def test_explicit_head_dim_and_fp8() -> None:
    spec = _model(AttentionSpec(8, 4, 256), 26)  # Gemma-2-2B: head_dim 256 ≠ hidden / heads
    assert kv_bytes_per_token(spec, dtype="fp8") == 2 * 26 * 4 * 256 * 1 == 53_248


def test_gguf_block_types() -> None:
    spec = load_model("llama-3.1-8b")
    # q8_0: 1,024 values per K row = 32 blocks × 34 bytes; q4_0: 32 × 18
    assert kv_bytes_per_token(spec, "llamacpp", "q8_0") == 2 * 32 * (1024 // 32 * 34) == 69_632
    assert kv_bytes_per_token(spec, "llamacpp", "q4_0") == 2 * 32 * (1024 // 32 * 18) == 36_864
    assert kv_dtype("q8_0").bytes_per_element == pytest.approx(34 / 32)


def test_bad_kv_dtype() -> None:
    with pytest.raises(ConfigError, match="unknown KV cache dtype"):
        kv_dtype("q9_9")


def test_mla_per_runtime() -> None:
    # DeepSeek-V3 attention: 128 heads, nope 128 + rope 64 = 192 qk, v 128, kv_lora_rank 512
    att = AttentionSpec(128, 128, 192, v_head_dim=128, kv_lora_rank=512, q_lora_rank=1536,
                        qk_rope_head_dim=64, qk_nope_head_dim=128)
    spec = _model(att, 61)
    assert kv_bytes_per_token(spec, "vllm") == 61 * (512 + 64) * 2 == 70_272
    assert kv_bytes_per_token(spec, "vllm", "fp8") == 35_136
    # transformers (5.17 measured, 5.23) also caches the latent ("while the latent KV is still compressed")
    assert kv_bytes_per_token(spec, "transformers") == 61 * (512 + 64) * 2 == 70_272


def test_sliding_window_bounded_in_transformers() -> None:
    # Mistral-7B v0.1: every layer slides over 4,096 → the cache keeps window - 1 = 4,095 tokens
    spec = _model(AttentionSpec(32, 8, 128, sliding_window=4096), 32)
    per_token = 2 * 32 * 8 * 128 * 2
    assert kv_cache_bytes(spec, 8223, 2) == 2 * 4095 * per_token == 1_073_479_680  # H100 measured value
    assert kv_cache_bytes(spec, 8223, 2, bound_windows=False) == 2 * 8223 * per_token
    assert kv_cache_bytes(spec, 1000, 1) == 1000 * per_token


def test_interleaved_local_global() -> None:
    # Gemma-2-2B: 26 layers alternating sliding (4,096) / global; b=4, prompt 4,096 + 31 new tokens
    layers = tuple(LayerSpec("attention", AttentionSpec(8, 4, 256, sliding_window=4096 if i % 2 == 0 else None),
                             mlp=MLPSpec(9216)) for i in range(26))
    spec = ModelSpec("g", "gemma2", 2304, 256000, layers)
    row = 2 * 4 * 256 * 2
    assert kv_cache_bytes(spec, 4127, 4) == 4 * 13 * row * (4127 + 4095) == 1_751_220_224  # H100 measured


def test_mamba_state_constant_per_sequence() -> None:
    ssm = SSMSpec(d_inner=8192, d_state=16, d_conv=4, dt_rank=256)
    # transformers keeps d_conv columns of conv state in bf16 and the SSM state in fp32: 4·8192 × 2 + 8192·16 × 4
    assert ssm_state_bytes(ssm, "mamba", "transformers", 2) == 4 * 8192 * 2 + 8192 * 16 * 4 == 589_824
    # vLLM keeps d_conv - 1 columns
    assert ssm_state_bytes(ssm, "mamba", "vllm", 2) == (3 * 8192 + 8192 * 16) * 2 == 311_296
    layer = LayerSpec("mamba", ssm=ssm)
    spec = ModelSpec("m", "mamba", 4096, 65024, (layer,) * 64, position_embedding="none")
    assert kv_cache_bytes(spec, 1, 1) == kv_cache_bytes(spec, 100_000, 1) == 64 * 589_824


def test_mamba2_state() -> None:
    ssm = SSMSpec(d_inner=8192, d_state=128, d_conv=4, num_heads=128, head_dim=64, n_groups=8)
    conv = 3 * (8192 + 2 * 8 * 128)
    state = 128 * 64 * 128
    assert ssm_state_bytes(ssm, "mamba2", "vllm", 2) == (conv + state) * 2
    assert ssm_state_bytes(ssm, "mamba2", "llamacpp", 2) == (conv + state) * 4  # llama.cpp: f32 states


@pytest.mark.parametrize("name", ["q4_k", "iq2_xxs", "q6_k", "tq1_0"])
def test_weight_only_ggml_types_are_not_cache_types(name: str) -> None:
    # llama.cpp's --cache-type-k/-v takes f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 only
    with pytest.raises(ConfigError, match=f"unknown KV cache dtype '{name}'"):
        kv_dtype(name)


@pytest.mark.parametrize(("name", "block", "nbytes"), [("q4_1", 32, 20), ("q5_0", 32, 22), ("q5_1", 32, 24),
                                                        ("iq4_nl", 32, 18)])
def test_llamacpp_cache_types(name: str, block: int, nbytes: int) -> None:
    t = kv_dtype(name)
    assert (t.block, t.block_bytes) == (block, nbytes)
