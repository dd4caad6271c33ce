"""Llama 4 beyond the exact counts of test_families (default configs and the Scout / Maverick real configs there):
the cache of chunked-attention and NoPE layers, and the interleaved dense / MoE layers, worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.errors import ConfigError
from memfit.inventory import count_parameters, layer_parameters
from memfit.memory.kv_cache import kv_bytes_per_token, kv_cache_bytes
from memfit.sources.hf_config import spec_from_config

REAL = json.loads((Path(__file__).parent / "data" / "families" / "real_configs.json").read_text())
ROW = 2 * 8 * 128 * 2  # K and V, 8 kv heads × head_dim 128, bf16: bytes per token and layer


def _spec(name: str) -> Any:
    return spec_from_config(REAL[name]["config"])


def test_scout_cache_chunked_and_nope_layers() -> None:
    # 48 layers; no_rope_layer_interval 4: layers 3, 7, …, 47 are NoPE with full attention (12), the other 36
    # RoPE layers attend within chunks of 8,192. transformers 5.25 caches a "chunked_attention" layer in a
    # DynamicSlidingWindowLayer(sliding_window=attention_chunk_size) (cache_utils DYNAMIC_LAYER_TYPE_MAPPING), which
    # keeps the last 8,192 − 1 = 8,191 tokens; a full layer keeps them all
    spec = _spec("llama-4-scout-17b-16e-instruct")
    assert spec.family == "llama4"
    assert [i for i, layer in enumerate(spec.layers) if layer.attention.sliding_window is None] == list(range(3, 48, 4))
    assert kv_bytes_per_token(spec) == 48 * ROW == 196_608  # while every layer still holds all its tokens
    assert kv_cache_bytes(spec, 20_000, 1) == 12 * 20_000 * ROW + 36 * 8191 * ROW == 2_190_852_096
    assert kv_cache_bytes(spec, 4096, 2) == 2 * 48 * 4096 * ROW  # below the chunk: every layer holds every token


def test_maverick_interleaved_moe_layers() -> None:
    # interleave_moe_layer_step 2: moe_layers = 1, 3, …, 47 (24 layers); the others a dense SwiGLU of 16,384
    spec = _spec("llama-4-maverick-17b-128e-instruct-text")
    h, e, i, dense = 5120, 128, 8192, 16384
    attn = h * 40 * 128 + 2 * h * 8 * 128 + 40 * 128 * h  # q, k, v, o without bias; qk-norm off (and weightless)
    moe_layer = attn + e * 3 * h * i + 3 * h * i + e * h + 2 * h  # experts, shared expert, router, two norms
    dense_layer = attn + 3 * h * dense + 2 * h
    assert layer_parameters(spec, 0) == dense_layer and layer_parameters(spec, 1) == moe_layer
    total = 24 * moe_layer + 24 * dense_layer + 2 * 202048 * h + h  # untied embeddings and lm_head, final norm
    assert count_parameters(spec).total == total == 400_711_848_960
    # one routed expert of 128 active per token on each MoE layer
    assert count_parameters(spec).active == total - 24 * (e - 1) * 3 * h * i


def test_layer_types_and_bad_fields() -> None:
    base = {**REAL["llama-4-maverick-17b-128e-instruct-text"]["config"], "num_hidden_layers": 4}
    spec = spec_from_config({**base, "layer_types": ["full_attention"] * 4, "moe_layers": [0]})
    assert all(layer.attention.sliding_window is None for layer in spec.layers)
    assert spec.layers[0].moe is not None and all(layer.moe is None for layer in spec.layers[1:])
    # no chunk size: every layer full attention (Llama4TextConfig derives layer_types the same way)
    assert all(layer.attention.sliding_window is None
               for layer in spec_from_config({**base, "attention_chunk_size": None}).layers)
    with pytest.raises(ConfigError, match="moe_layers"):
        spec_from_config({**base, "moe_layers": [7]})
    with pytest.raises(ConfigError, match="no_rope_layers"):
        spec_from_config({**base, "no_rope_layers": [1, 0]})
    with pytest.raises(ConfigError, match="layer_types"):
        spec_from_config({**base, "layer_types": ["sliding_attention"] * 4})
