"""The generic path: any causal-LM config memfit has no builder for becomes a ModelSpec from its standard
fields, labelled generic in every estimate, with an approximate count (so labelled) when transformers is
not installed. The comparison with transformers itself is in test_generic_oracle.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests._cli import run

from memfit import estimate, load_model
from memfit.errors import UnknownModelError
from memfit.memory.kv_cache import kv_cache_bytes
from memfit.spec import LinearAttentionSpec

# a hybrid of a kind memfit has never seen: gated-delta-net style linear attention and full attention
HYBRID: dict[str, Any] = {
    "model_type": "never_seen_hybrid", "hidden_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 8,
    "num_key_value_heads": 2, "head_dim": 128, "intermediate_size": 2048, "vocab_size": 1000,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
    "linear_num_value_heads": 8, "linear_num_key_heads": 4, "linear_key_head_dim": 64,
    "linear_value_head_dim": 96, "linear_conv_kernel_dim": 4,
}


def test_hybrid_kv_cache_by_hand() -> None:
    spec = load_model(HYBRID)
    # Qwen3-Next's four linear_* head fields: a gated delta-net (transformers' torch_chunk_gated_delta_rule, as
    # Qwen3.5's copy LaraMiniGatedDeltaNet runs it in 5.25 modeling_lara_mini.py), not a Mamba-2 scan (l12lara)
    assert spec.is_generic and [layer.mixer for layer in spec.layers] == ["linear_attention"] * 3 + ["attention"]
    assert spec.layers[0].linear == LinearAttentionSpec(4, 8, 64, 96, 4, split_proj=True)  # k/v heads, k/v dims, taps
    # full-attention layer: K and V, 2 kv heads × 128, bf16, 1000 tokens = 2 × 2 × 128 × 2 × 1000
    full = 2 * 2 * 128 * 2 * 1000
    # linear layers (vLLM keeps conv_kernel - 1 columns): state 8 value heads × 96 × 64 key dims, conv window
    # 3 × (8 × 96 + 2 × 4 × 64) channels (v, then q and k), 2 bytes each, once per sequence
    linear = 3 * (8 * 96 * 64 + 3 * (8 * 96 + 2 * 4 * 64)) * 2
    assert kv_cache_bytes(spec, 1000, 1, "vllm", "bfloat16") == full + linear == 1_341_952


def test_layer_patterns() -> None:
    base = {"model_type": "never_seen", "hidden_size": 256, "num_attention_heads": 4, "vocab_size": 100,
            "intermediate_size": 512}
    nemo = load_model(base | {"hybrid_override_pattern": "M*-E", "mamba_d_state": 16, "mamba_n_heads": 8,
                              "mamba_d_head": 64, "num_experts": 4, "num_experts_per_tok": 2})
    parts = [(layer.mixer, layer.attention is not None, layer.mlp is not None, layer.moe is not None)
             for layer in nemo.layers]
    assert parts == [
        ("mamba2", False, False, False), ("attention", True, False, False), ("attention", False, True, False),
        ("attention", False, False, True)]
    jamba = load_model(base | {"num_hidden_layers": 8, "attn_layer_period": 4, "attn_layer_offset": 2,
                               "mamba_d_state": 16, "num_experts": 4, "num_experts_per_tok": 2,
                               "expert_layer_period": 2, "expert_layer_offset": 1})
    assert [layer.mixer for layer in jamba.layers] == ["mamba2", "mamba2", "attention", "mamba2"] * 2
    assert [layer.moe is not None for layer in jamba.layers] == [False, True] * 4
    swa = load_model(base | {"num_hidden_layers": 6, "sliding_window": 512, "sliding_window_pattern": 3})
    assert swa.sliding_windows == (512, 512, None, 512, 512, None)
    nested = load_model({"model_type": "never_seen_vl", "vision_config": {"hidden_size": 64},
                         "text_config": base | {"num_hidden_layers": 2, "num_key_value_heads": 1}})
    assert nested.hidden_size == 256 and nested.layers[0].attention and nested.layers[0].attention.kind == "mqa"


def test_missing_fields_name_the_field_and_the_families() -> None:
    with pytest.raises(UnknownModelError, match=r"'never_seen'.*supported families: .*dbrx.*'num_hidden_layers'"):
        load_model({"model_type": "never_seen", "hidden_size": 64})


def test_without_transformers_the_count_is_labelled_approximate(no_transformers: Any) -> None:
    est = estimate(HYBRID)
    assert est.details["architecture"] == "generic" and est.details["parameters_exact"] is False
    assert "approximate" in est.details["parameters_source"]
    assert any("approximate" in n and "transformers" in n for n in est.notes)
    # the standard layout, by hand: embeddings + lm_head, 4 gated MLPs, 4 × 2 norms + final norm, the full
    # attention layer (q 8 × 128, k and v 2 × 128, o) and 3 gated delta-nets (Qwen3.5's layout): in_proj_qkv to the
    # conv channels (2 × 4 × 64 + 8 × 96), in_proj_z (8 × 96), in_proj_b and _a (8 each), the 4-tap conv, dt_bias
    # and A_log (8 each), the gated norm (96) and out_proj
    attn = 1024 * 1024 + 2 * 1024 * 256 + 1024 * 1024
    conv = 768 + 2 * 4 * 64
    ssm = 1024 * conv + 1024 * 768 + 2 * 1024 * 8 + conv * 4 + 2 * 8 + 96 + 1024 * 768
    assert est.parameters.total == 2 * 1000 * 1024 + 4 * 3 * 1024 * 2048 + 9 * 1024 + attn + 3 * ssm


def test_catalog_reference_count_without_transformers(no_transformers: Any) -> None:
    cfg = HYBRID | {"_memfit_reference_parameters": {"parameters": 99_000_000, "source": "catalog row"}}
    est = estimate(cfg)
    assert est.parameters.total == 99_000_000 and est.details["parameters_exact"] is True


def test_cli_json_on_a_never_seen_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               no_transformers: Any) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(HYBRID))
    code, out, err = run(["estimate", str(path), "--json", "--mode", "inference", "--runtime", "vllm",
                          "--context", "1000", "--new-tokens", "0", "--gpu-memory-utilization", "0.5"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["details"]["architecture"] == "generic" and doc["parameters"] > 0 and doc["total_bytes"] > 0
    assert any(n.startswith("generic path") for n in doc["notes"])
    code, out, _ = run(["estimate", str(path)], capsys)
    assert code == 0 and "generic path" in out


def test_safetensors_headers_give_the_exact_total(tmp_path: Path, no_transformers: Any) -> None:
    """A checkpoint of a never-seen family read from its headers: the total is the headers' count (exact),
    the feed-forward part of the standard layout sized to it, and labelled so."""
    from tests._checkpoint_files import raw_safetensors, write_config

    header, offset = {}, 0
    for name, shape in (("model.embed_tokens.weight", [1000, 1024]), ("lm_head.weight", [1000, 1024]),
                        ("model.layers.0.block.weight", [30_000_000])):
        size = 2 * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw_safetensors(tmp_path / "model.safetensors", header, offset)
    write_config(tmp_path, HYBRID)
    spec = load_model(str(tmp_path))
    total = 2 * 1000 * 1024 + 30_000_000
    assert spec.is_generic and spec.stored is not None and spec.stored.logical_parameters == total
    est = estimate(spec)
    assert est.parameters.total == total and est.details["parameters_exact"] is True
    assert "safetensors headers" in est.details["parameters_source"]
    # what is not feed-forward keeps the standard layout's sizes (as in the test above); the MLPs take the rest
    conv = 768 + 2 * 4 * 64
    ssm = 3 * (1024 * conv + 1024 * 768 + 2 * 1024 * 8 + conv * 4 + 2 * 8 + 96 + 1024 * 768)
    rest = 2 * 1000 * 1024 + 9 * 1024 + (1024 * 1024 + 2 * 1024 * 256 + 1024 * 1024) + ssm
    assert est.parameters.by_group["mlp"] == total - rest


def test_chunked_attention_without_per_layer_types_is_an_upper_bound() -> None:
    base = {"model_type": "never_seen", "hidden_size": 256, "num_attention_heads": 4, "vocab_size": 100,
            "num_hidden_layers": 8, "attention_chunk_size": 64}
    assert load_model(base).sliding_windows == (None,) * 8
    marked = load_model(base | {"no_rope_layers": [1, 1, 1, 0] * 2})
    assert marked.sliding_windows == (64, 64, 64, None) * 2
    assert load_model(base | {"no_rope_layer_interval": 4}).sliding_windows == (64, 64, 64, None) * 2


def test_qwen3_5_delta_net_holds_z_and_the_conv_output_only() -> None:
    """transformers 5.25 Qwen3_5GatedDeltaNet (and LaraMiniGatedDeltaNet) project q, k, v straight into the conv
    (in_proj_qkv, dead once the conv ran) and z apart (in_proj_z); Qwen3NextGatedDeltaNet's fused in_proj_qkvz output
    stays to out_proj with z copied out of it (l12lara)."""
    from memfit.memory.ssm_activations import gated_delta_prefill_bytes

    split = LinearAttentionSpec(4, 8, 64, 96, 4, split_proj=True)
    fused = LinearAttentionSpec(4, 8, 64, 96, 4)
    # one 64-token chunk, bf16: fp32 q/k/v copies and chunked values (5 × 64 + 5 × 96 per head) and three 64-wide
    # decay / attention matrices over 8 value heads; conv channels 2 × 4 × 64 + 8 × 96 = 1280, z 8 × 96 = 768
    fp32 = 8 * 64 * (5 * 64 + 5 * 96 + 3 * 64) * 4
    assert gated_delta_prefill_bytes(split, 1, 64, 2)[0] == fp32 + 64 * (1280 + 768) * 2 == 2_293_760
    assert gated_delta_prefill_bytes(fused, 1, 64, 2)[0] == fp32 + 64 * (2 * 1280 + 2 * 768) * 2
    assert load_model(HYBRID).layers[0].linear == split
