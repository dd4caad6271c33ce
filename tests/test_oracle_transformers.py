"""memfit's parameter counts against the reference implementation itself: transformers builds each
model on the meta device (no memory, no weights), and the sum of ``numel`` over the unique parameters
must equal memfit's count exactly — in total, per decoder block, for the token embedding and lm_head.

Covers the bundled configs of the first-class families transformers can build (deepseek-moe-16b-base needs
remote code) and further real-shaped configs of every family that are not in the catalog: transformers' own default
config classes (fed to memfit as their ``to_dict()``), and hand-written Hub-style configs (Gemma 3 4B,
gpt-oss-120b, Falcon-40B, Mistral with a sliding window, DeepSeek-V2-Lite without q LoRA, …).
Skipped when transformers is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.errors import ConfigError
from memfit.inventory import count_parameters
from memfit.sources.hf_config import SUPPORTED_FAMILIES, spec_from_config

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from _meta_oracle import assert_counts_match, build_meta  # noqa: E402

CONFIGS = Path(__file__).parent.parent / "src" / "memfit" / "data" / "models"


def _check(cfg: dict[str, Any], reference: Any = None) -> None:
    """memfit on ``cfg`` equals transformers on ``reference`` (default: the same dict)."""
    assert_counts_match(cfg, reference)


# the catalog configs of the first-class families (the generic path's rows: tests/test_catalog_counts.py)
CATALOG = sorted(p.stem for p in CONFIGS.glob("*.json") if p.stem != "deepseek-moe-16b-base"
                 and json.loads(p.read_text()).get("model_type") in SUPPORTED_FAMILIES)


@pytest.mark.parametrize("model_id", CATALOG)
def test_catalog_config_matches_transformers(model_id: str) -> None:
    _check(json.loads((CONFIGS / f"{model_id}.json").read_text()))


# transformers' default config class for every family, passed to memfit as its to_dict()
DEFAULT_CONFIGS = [
    "LlamaConfig", "MistralConfig", "MixtralConfig", "Qwen2Config", "Qwen2MoeConfig", "Qwen3Config",
    "Qwen3MoeConfig", "GemmaConfig", "Gemma2Config", "Gemma3TextConfig", "Gemma3Config", "PhiConfig",
    "Phi3Config", "GPT2Config", "GPTJConfig", "GPTNeoXConfig", "FalconConfig", "Olmo2Config", "OlmoeConfig",
    "StableLmConfig", "Starcoder2Config", "DeepseekV2Config", "DeepseekV3Config", "DbrxConfig", "GptOssConfig",
    "MambaConfig", "Mamba2Config", "FalconMambaConfig",
]


@pytest.mark.parametrize("config_class", DEFAULT_CONFIGS)
def test_default_config_of_each_family_matches_transformers(config_class: str) -> None:
    # transformers 5.23 cannot build DbrxConfig() as is (its attention reads a rope_theta the default lacks)
    kwargs = {"attn_config": {"rope_theta": 10000.0}} if config_class == "DbrxConfig" else {}
    conf = getattr(transformers, config_class)(**kwargs)
    cfg = conf.to_dict()
    if config_class == "DeepseekV2Config":  # its default top-k is null, which memfit rejects (no active count)
        with pytest.raises(ConfigError, match="num_experts_per_tok"):
            spec_from_config(cfg)
        cfg["num_experts_per_tok"] = 6
    _check(cfg, conf)


def test_every_supported_family_is_checked_against_transformers() -> None:
    from test_families import DEFAULTS as FAMILY_DEFAULTS  # the issue-10 families, checked there
    from test_families_new import DEFAULTS as LATE_DEFAULTS  # and the late ones (mllama's in its own test there)

    covered = {getattr(transformers, c)().model_type for c in [*DEFAULT_CONFIGS, *FAMILY_DEFAULTS, *LATE_DEFAULTS]}
    from test_family_hybrids import HYBRID_FAMILIES  # the Mamba hybrids and kimi_linear, checked there

    covered |= {"mllama"} | HYBRID_FAMILIES
    from test_family_dsv4 import FAMILIES as DSV4  # deepseek_v4, checked there
    from test_family_towers import FAMILIES as TOWERS  # gemma4 with its towers, checked there
    from test_glm4_moe_lite import FAMILIES as GLM4_MOE_LITE  # glm4_moe_lite, checked there
    from test_glm_moe_dsa import FAMILIES as GLM_MOE_DSA  # glm_moe_dsa, checked there
    from test_lfm3 import FAMILIES as LFM3  # lfm3, checked there
    from test_mimo import FAMILIES as MIMO  # mimo_v2_flash, checked there
    from test_openai_gpt import FAMILIES as OPENAI_GPT  # openai-gpt, checked there

    covered |= DSV4 | TOWERS | GLM4_MOE_LITE | GLM_MOE_DSA | MIMO | OPENAI_GPT | LFM3
    # deepseek (v1) is remote code only; gemma3n's image-audio class needs timm (its text model is checked)
    assert covered == set(SUPPORTED_FAMILIES) - {"deepseek", "gemma3n"}


# Hub-style configs written from published architectures, not in the catalog
EXTRA: dict[str, dict[str, Any]] = {
    "gemma-3-4b-it": {  # the Hub file leaves heads, kv heads, head_dim and vocab to Gemma3TextConfig defaults
        "model_type": "gemma3", "mm_tokens_per_image": 256, "torch_dtype": "bfloat16",
        "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                        "num_hidden_layers": 34, "sliding_window": 1024,
                        "rope_scaling": {"factor": 8.0, "rope_type": "linear"}},
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152, "image_size": 896,
                          "intermediate_size": 4304, "num_attention_heads": 16, "num_hidden_layers": 27,
                          "patch_size": 14, "vision_use_head": False},
    },
    "gpt-oss-120b": {
        "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880, "num_hidden_layers": 36,
        "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64, "num_local_experts": 128,
        "num_experts_per_tok": 4, "vocab_size": 201088, "sliding_window": 128, "attention_bias": True,
        "tie_word_embeddings": False,
    },
    "falcon-40b": {
        "model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
        "num_kv_heads": 8, "new_decoder_architecture": True, "parallel_attn": True, "bias": False,
        "vocab_size": 65024,
    },
    "falcon-rw-1b": {
        "model_type": "falcon", "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 32,
        "alibi": True, "multi_query": False, "parallel_attn": False, "bias": True, "vocab_size": 50304,
    },
    "mistral-7b-v0.1": {
        "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000, "sliding_window": 4096,
        "max_position_embeddings": 32768,
    },
    "deepseek-v2-lite": {  # the Hub file: no q LoRA (q_lora_rank null), 1 dense layer, 64 experts top-6
        "model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "num_hidden_layers": 27,
        "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 102400, "q_lora_rank": None,
        "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
        "first_k_dense_replace": 1, "n_routed_experts": 64, "n_shared_experts": 2, "num_experts_per_tok": 6,
        "moe_intermediate_size": 1408, "moe_layer_freq": 1,
    },
    "qwen2-moe-sparse-step": {  # dense layers from mlp_only_layers and decoder_sparse_step
        "model_type": "qwen2_moe", "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 6,
        "num_attention_heads": 16, "num_key_value_heads": 4, "vocab_size": 32000, "num_experts": 8,
        "num_experts_per_tok": 2, "moe_intermediate_size": 512, "shared_expert_intermediate_size": 1024,
        "decoder_sparse_step": 2, "mlp_only_layers": [3],
    },
    "qwen3-moe-mlp-only": {
        "model_type": "qwen3_moe", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 4,
        "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 32000,
        "num_experts": 16, "num_experts_per_tok": 4, "moe_intermediate_size": 256, "mlp_only_layers": [0, 2],
    },
    "stablelm-2-12b": {  # qk layernorm per head and parallel residual
        "model_type": "stablelm", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 100352, "qk_layernorm": True,
        "use_parallel_residual": True, "use_qkv_bias": False, "partial_rotary_factor": 0.25,
    },
    "phi-qk-layernorm": {
        "model_type": "phi", "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 4,
        "num_attention_heads": 16, "vocab_size": 51200, "qk_layernorm": True,
    },
    "llama-biases-head-dim": {  # attention and MLP biases, head_dim ≠ hidden / heads
        "model_type": "llama", "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 3,
        "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 160, "vocab_size": 32000,
        "attention_bias": True, "mlp_bias": True,
    },
    "gpt2-xl": {"model_type": "gpt2", "n_embd": 1600, "n_layer": 48, "n_head": 25, "n_positions": 1024,
                "vocab_size": 50257},
    "gpt2-n-inner": {"model_type": "gpt2", "n_embd": 512, "n_layer": 2, "n_head": 8, "n_inner": 1000,
                     "n_positions": 256, "vocab_size": 1000, "tie_word_embeddings": False},
    "pythia-1b": {
        "model_type": "gpt_neox", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 8, "vocab_size": 50304, "rotary_pct": 0.25, "use_parallel_residual": True,
    },
    "mamba-130m": {"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280,
                   "state_size": 16, "expand": 2, "conv_kernel": 4, "time_step_rank": "auto"},
    "mamba2-2.7b": {"model_type": "mamba2", "hidden_size": 2560, "num_hidden_layers": 64, "vocab_size": 50288,
                    "num_heads": 80, "head_dim": 64, "n_groups": 1, "state_size": 128, "expand": 2,
                    "tie_word_embeddings": True},
    "gemma-2-2b-default-pattern": {  # no layer_types: transformers alternates sliding / global
        "model_type": "gemma2", "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 256000,
        "sliding_window": 4096,
    },
    "dbrx-small": {
        "model_type": "dbrx", "d_model": 1024, "n_heads": 16, "n_layers": 2, "vocab_size": 32000,
        "attn_config": {"kv_n_heads": 4, "rope_theta": 10000.0},
        "ffn_config": {"ffn_hidden_size": 2048, "moe_num_experts": 8, "moe_top_k": 2},
    },
}


@pytest.mark.parametrize("label", sorted(EXTRA))
def test_real_shaped_config_matches_transformers(label: str) -> None:
    _check(EXTRA[label])


def test_gemma3_multimodal_vision_is_counted_exactly() -> None:
    """The vision tower + projector of Gemma 3 27B, as transformers builds them."""
    cfg = json.loads((CONFIGS / "gemma-3-27b-it.json").read_text())
    model = build_meta(cfg)
    vision = sum(p.numel() for n, p in model.named_parameters()
                 if n.startswith(("model.vision_tower.", "model.multi_modal_projector.")))
    spec = spec_from_config(cfg)
    assert spec.vision is not None
    assert spec.vision.parameters == vision
    assert count_parameters(spec).by_group["vision"] == vision
