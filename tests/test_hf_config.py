"""config.json → ModelSpec: what the description records (the facts memory formulas read), the tensor
kinds the formats use, both config styles (Hub files and transformers ``to_dict()``), and the errors.
Expected values are read off the configs and the published architectures by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.errors import ConfigError, MemfitError, UnknownModelError
from memfit.inventory import count_parameters, inventory
from memfit.sources.hf_config import SUPPORTED_FAMILIES, spec_from_config

CONFIGS = Path(__file__).parent.parent / "src" / "memfit" / "data" / "models"
GROUNDTRUTH = Path(__file__).parent / "data" / "groundtruth"


def _config(model_id: str) -> dict[str, Any]:
    cfg: dict[str, Any] = json.loads((CONFIGS / f"{model_id}.json").read_text())
    return cfg


def _groundtruth(case_prefix: str) -> dict[str, Any]:
    for line in (GROUNDTRUTH / "h100.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("case", "").startswith(case_prefix):
            cfg: dict[str, Any] = row["config"]
            return cfg
    raise AssertionError(case_prefix)


def test_supported_families() -> None:
    from test_families import NEW_FAMILIES
    from test_families_new import FAMILIES as LATE_FAMILIES
    from test_family_hybrids import HYBRID_FAMILIES
    from test_family_towers import FAMILIES as TOWER_FAMILIES  # gemma4, llama4, gemma4_unified(_text)
    from test_lfm3 import FAMILIES as LFM3  # lfm3

    assert set(SUPPORTED_FAMILIES) == NEW_FAMILIES | HYBRID_FAMILIES | LATE_FAMILIES | TOWER_FAMILIES | LFM3 | {
        "llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma", "gemma2", "gemma3",
        "gemma3_text", "phi", "phi3", "gpt2", "gptj", "gpt_neox", "falcon", "olmo2", "olmoe", "stablelm",
        "starcoder2", "deepseek", "deepseek_v2", "deepseek_v3", "dbrx", "gpt_oss", "mamba", "mamba2",
        "falcon_mamba",
        "gemma4", "deepseek_v4",  # first-class since ebe2127 / 8531e82
        "glm4_moe_lite", "mimo_v2_flash",  # issue 12's fresh blind set (tests/test_glm4_moe_lite.py, test_mimo.py)
        "glm_moe_dsa",  # issue 12's blind sweep, development (tests/test_glm_moe_dsa.py)
        "openai-gpt",  # issue 12's blind round 5, development (tests/test_openai_gpt.py)
    }


# --- sliding windows, per layer ---------------------------------------------------------------------------


def test_gemma2_alternates_sliding_and_global() -> None:
    spec = spec_from_config(_config("gemma-2-2b"))  # no layer_types: transformers' default alternation
    assert spec.sliding_windows == tuple(4096 if i % 2 == 0 else None for i in range(26))
    gt = spec_from_config(_groundtruth("gemma-2-2b/"))  # to_dict() lists layer_types explicitly
    assert gt.sliding_windows == spec.sliding_windows


def test_gemma3_every_sixth_layer_is_global() -> None:
    one_b = spec_from_config(_config("gemma-3-1b-it"))  # sliding_window_pattern 6, window 512
    assert one_b.sliding_windows == tuple(None if (i + 1) % 6 == 0 else 512 for i in range(26))
    big = spec_from_config(_config("gemma-3-27b-it"))  # layer_types in text_config, window 1024
    assert big.sliding_windows.count(None) == 10 and big.num_layers == 62
    assert big.sliding_windows[5] is None and big.sliding_windows[0] == 1024


def test_mistral_window_on_every_layer_or_none() -> None:
    assert set(spec_from_config(_groundtruth("mistral-7b-v0.1/")).sliding_windows) == {4096}
    assert set(spec_from_config(_config("mistral-7b-v0.3")).sliding_windows) == {None}


def test_qwen_use_sliding_window_false_means_full_attention() -> None:
    assert set(spec_from_config(_config("qwen2.5-7b")).sliding_windows) == {None}
    cfg = {**_config("qwen2.5-7b"), "use_sliding_window": True, "max_window_layers": 20}
    assert spec_from_config(cfg).sliding_windows == (None,) * 20 + (131072,) * 8


def test_gpt_oss_alternates_windows_and_has_sinks() -> None:
    spec = spec_from_config(_config("gpt-oss-20b"))
    assert spec.sliding_windows == tuple(128 if i % 2 == 0 else None for i in range(24))
    attn = spec.layers[0].attention
    assert attn is not None and attn.sinks and attn.qkv_bias and attn.o_bias
    moe = spec.layers[0].moe
    assert moe is not None and (moe.num_experts, moe.top_k, moe.router_bias, moe.expert_bias) == (32, 4, True, True)


def test_layer_types_must_match_the_layer_count() -> None:
    cfg = {**_config("gpt-oss-20b"), "layer_types": ["full_attention"] * 3}
    with pytest.raises(ConfigError, match="layer_types"):
        spec_from_config(cfg)


# --- what the inference and training formulas read --------------------------------------------------------


def test_attention_shapes_and_kv_heads() -> None:
    attn = spec_from_config(_config("llama-3.1-8b")).layers[0].attention
    assert attn is not None
    assert (attn.num_heads, attn.num_kv_heads, attn.head_dim, attn.kind) == (32, 8, 128, "gqa")
    gemma2 = spec_from_config(_groundtruth("gemma-2-2b/"))
    assert gemma2.layers[0].attention is not None and gemma2.layers[0].attention.head_dim == 256
    assert gemma2.layers[0].norms == 4
    falcon = spec_from_config({"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32,
                               "num_attention_heads": 71, "vocab_size": 65024})
    assert falcon.layers[0].attention is not None and falcon.layers[0].attention.kind == "mqa"


def test_mla_ranks() -> None:
    spec = spec_from_config(_config("deepseek-v2.5"))
    a = spec.layers[0].attention
    assert a is not None and a.kind == "mla"
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.value_dim) == (
        1536, 512, 64, 128, 128)
    assert a.head_dim == 192
    assert spec.layers[0].moe is None and spec.layers[1].moe is not None  # first_k_dense_replace = 1
    moe = spec.layers[1].moe
    assert (moe.num_experts, moe.top_k, moe.num_shared_experts, moe.expert_intermediate_size) == (160, 6, 2, 1536)
    r1 = spec_from_config(_config("deepseek-r1"))
    assert r1.mtp_layers == 1 and r1.num_layers == 61
    assert r1.moe_layers[0].num_groups == 8 and r1.moe_layers[0].topk_group == 4


def test_moe_facts() -> None:
    mixtral = spec_from_config(_config("mixtral-8x7b-v0.1")).layers[0].moe
    assert mixtral is not None and (mixtral.num_experts, mixtral.top_k, mixtral.expert_intermediate_size) == (
        8, 2, 14336)
    olmoe = spec_from_config(_groundtruth("olmoe-1b-7b/"))
    assert olmoe.layers[0].moe is not None and (olmoe.layers[0].moe.num_experts, olmoe.layers[0].moe.top_k) == (64, 8)
    assert olmoe.layers[0].attention is not None and olmoe.layers[0].attention.qk_norm == "full"
    qwen_moe = spec_from_config(_config("qwen1.5-moe-a2.7b")).layers[0].moe
    assert qwen_moe is not None and qwen_moe.shared_expert_gate and qwen_moe.shared_size == 5632


def test_ssm_sizes() -> None:
    fm = spec_from_config(_config("falcon-mamba-7b"))
    ssm = fm.layers[0].ssm
    assert fm.layers[0].mixer == "mamba" and ssm is not None
    assert (ssm.d_inner, ssm.d_state, ssm.d_conv, ssm.dt_rank) == (8192, 16, 4, 256)
    m2 = spec_from_config(_config("mamba-codestral-7b-v0.1"))
    s2 = m2.layers[0].ssm
    assert m2.layers[0].mixer == "mamba2" and s2 is not None
    assert (s2.d_inner, s2.num_heads, s2.head_dim, s2.n_groups, s2.d_state) == (8192, 128, 64, 8, 128)
    assert m2.attention_layers == () and set(m2.sliding_windows) == {None}


def test_dtype_from_torch_dtype_or_dtype() -> None:
    assert spec_from_config(_config("llama-3.1-8b")).dtype == "bfloat16"  # Hub: torch_dtype
    assert spec_from_config(_groundtruth("gpt2/")).dtype == "bfloat16"  # to_dict(): dtype
    assert spec_from_config({**_config("llama-3.1-8b"), "torch_dtype": "torch.float16"}).dtype == "float16"


def test_gemma3_multimodal_vision_tower() -> None:
    spec = spec_from_config(_config("gemma-3-27b-it"))
    v = spec.vision
    assert v is not None and v.kind == "siglip"
    assert (v.hidden_size, v.num_layers, v.num_patches, v.projector_dim, v.tokens_per_image) == (
        1152, 27, 4096, 5376, 256)
    # SigLIP by hand: patch conv d·3·14·14 + d, positions 4096·d, 27 × (2 LN + 4 (d²+d) + 2 d·I + I + d),
    # post LN 2d, projector d·5376 + d
    d, inter = 1152, 4304
    layer = 4 * d + 4 * (d * d + d) + 2 * d * inter + inter + d
    assert v.parameters == d * 3 * 14 * 14 + d + 4096 * d + 27 * layer + 2 * d + d * 5376 + d
    assert spec.tie_word_embeddings and spec.family == "gemma3"


def test_hub_file_and_to_dict_give_the_same_model() -> None:
    hub, to_dict = spec_from_config(_config("llama-3.1-8b")), spec_from_config(_groundtruth("llama-3.1-8b/"))
    assert hub.layers == to_dict.layers
    assert count_parameters(hub) == count_parameters(to_dict)
    gpt2 = spec_from_config(_groundtruth("gpt2/"))  # to_dict(): n_inner null → 4 × n_embd
    assert gpt2.layers[0].mlp is not None and gpt2.layers[0].mlp.intermediate_size == 3072
    assert gpt2.position_embedding == "learned" and gpt2.max_position_embeddings == 1024


# --- tensor kinds (llama.cpp vocabulary, used by the GGUF mixtures) ---------------------------------------


def test_llama_tensor_kinds() -> None:
    kinds = {t.kind for t in inventory(spec_from_config(_config("llama-3.1-8b")))}
    assert kinds == {"token_embd", "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                     "ffn_gate", "ffn_up", "ffn_down", "output_norm", "output"}


def test_moe_and_fused_tensor_kinds() -> None:
    mixtral = {t.kind for t in inventory(spec_from_config(_config("mixtral-8x7b-v0.1")))}
    assert {"ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"} <= mixtral
    assert "ffn_gate" not in mixtral
    phi3 = inventory(spec_from_config(_groundtruth("phi-3-mini-4k/")))
    qkv = [t for t in phi3 if t.kind == "attn_qkv"]
    up = [t for t in phi3 if t.kind == "ffn_up"]
    assert qkv[0].shape == (3 * 3072, 3072) and up[0].shape == (2 * 8192, 3072)
    assert not any(t.kind == "ffn_gate" for t in phi3)
    gemma2 = {t.kind for t in inventory(spec_from_config(_config("gemma-2-2b")))}
    assert {"attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"} <= gemma2
    assert "output" not in gemma2  # tied


def test_tied_embeddings_listed_once() -> None:
    tensors = inventory(spec_from_config(_config("llama-3.2-1b")))
    assert [t.kind for t in tensors].count("token_embd") == 1
    assert not any(t.kind == "output" for t in tensors)


# --- errors -----------------------------------------------------------------------------------------------


def test_unknown_model_type_names_the_supported_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"'bert'.*supported families: .*dbrx, deepseek"):
        spec_from_config({"model_type": "bert", "hidden_size": 768})


def test_missing_model_type() -> None:
    with pytest.raises(ConfigError, match="model_type"):
        spec_from_config({"hidden_size": 768})


@pytest.mark.parametrize(("change", "pattern"), [
    ({"hidden_size": None}, "no 'hidden_size'"),
    ({"hidden_size": -4096}, r"'hidden_size' = -4096 must be between 1"),
    ({"num_hidden_layers": 1e9}, "'num_hidden_layers'"),
    ({"intermediate_size": "14336"}, "'intermediate_size' = '14336' must be an integer"),
    ({"vocab_size": True}, "'vocab_size' = True must be an integer"),
    ({"num_key_value_heads": 5}, "'num_key_value_heads' = 5 must divide num_attention_heads = 32"),
    ({"head_dim": None, "hidden_size": 4100}, "not divisible"),
    ({"tie_word_embeddings": "yes"}, "'tie_word_embeddings' = 'yes' must be true or false"),
    ({"hidden_size": float("nan")}, "'hidden_size' = nan must be an integer"),  # json.loads accepts NaN
    ({"vocab_size": float("inf")}, "'vocab_size' = inf must be an integer"),
    ({"quantization_config": {"quant_method": "gptq", "bits": "x"}},
     "quantization_config field 'bits' = 'x' must be an integer"),
    ({"quantization_config": {"quant_method": "awq", "group_size": 64.5}},
     "quantization_config field 'group_size' = 64.5 must be an integer"),
])
def test_bad_fields_name_field_value_and_rule(change: dict[str, Any], pattern: str) -> None:
    cfg = {**_config("llama-3.1-8b"), **change}
    if change.get("hidden_size") is None and "hidden_size" in change:
        del cfg["hidden_size"]
    with pytest.raises(ConfigError, match=pattern):
        spec_from_config(cfg)


def test_errors_in_other_families() -> None:
    with pytest.raises(ConfigError, match="'n_embd'"):
        spec_from_config({"model_type": "gpt2", "n_layer": 2, "n_head": 2, "vocab_size": 10})
    with pytest.raises(ConfigError, match="'text_config' must be an object"):
        spec_from_config({"model_type": "gemma3", "text_config": [1, 2]})
    with pytest.raises(ConfigError, match="vision_config model_type 'clip_vision_model'"):
        spec_from_config({"model_type": "gemma3", "vision_config": {"model_type": "clip_vision_model"}})
    with pytest.raises(ConfigError, match="num_experts_per_tok"):
        spec_from_config({**_config("deepseek-moe-16b-base"), "num_experts_per_tok": None})
    with pytest.raises(MemfitError):
        spec_from_config([1, 2])  # type: ignore[arg-type]
