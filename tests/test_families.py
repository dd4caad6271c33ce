"""First-class families added for issue 10: exact parameter counts against transformers 5.25 on the meta device
(the family's default config class and a real config), and the KV cache / recurrent state worked out by hand.

The real configs (tests/data/families/real_configs.json) are Hub-shaped config.json files written from the
published configs of the cited repositories (the architecture fields; tokenizer ids and such left out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.inventory import count_parameters
from memfit.memory.kv_cache import kv_bytes_per_token, kv_cache_bytes
from memfit.sources.hf_config import spec_from_config

REAL = json.loads((Path(__file__).parent / "data" / "families" / "real_configs.json").read_text())

# the model_types added as first-class families (the older ones are listed in test_hf_config)
NEW_FAMILIES = {"smollm3", "olmo3", "seed_oss", "exaone4", "cohere2", "glm4_moe", "ernie4_5_moe", "hunyuan_v1_moe",
                "phimoe", "minimax_m2", "ministral3", "mistral3", "qwen3_next", "qwen3_5_text", "qwen3_5_moe_text",
                "qwen3_5", "qwen3_5_moe", "lfm2", "llama4_text", "llama4"}

# (config class, model class when not AutoModelForCausalLM)
DEFAULTS: dict[str, str | None] = {
    "SmolLM3Config": None, "Olmo3Config": None, "SeedOssConfig": None, "Exaone4Config": None, "Cohere2Config": None,
    "Glm4MoeConfig": None, "Ernie4_5_MoeConfig": None, "HunYuanMoEV1Config": None, "PhimoeConfig": None,
    "MiniMaxM2Config": None, "Ministral3Config": None, "Mistral3Config": "Mistral3ForConditionalGeneration",
    "Qwen3NextConfig": None, "Qwen3_5TextConfig": None, "Qwen3_5MoeTextConfig": None,
    "Qwen3_5Config": None, "Qwen3_5MoeConfig": None,  # AutoModelForCausalLM: the text model (tower not counted)
    "Lfm2Config": None,
    "Llama4TextConfig": None, "Llama4Config": None,  # AutoModelForCausalLM: Llama4ForCausalLM on the text config
}
# keyword arguments a default config needs before transformers can build it at all
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "HunYuanMoEV1Config": {"head_dim": 128},  # its default head_dim is None, which the attention cannot use
}


def _check(cfg: dict[str, Any], reference: Any = None, model_class: str | None = None) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(cfg, reference, model_class)


@pytest.mark.parametrize("config_class", sorted(DEFAULTS))
def test_default_config_count_is_exact(config_class: str) -> None:
    transformers = pytest.importorskip("transformers")
    conf = getattr(transformers, config_class)(**DEFAULT_KWARGS.get(config_class, {}))
    _check(conf.to_dict(), conf, DEFAULTS[config_class])


def test_each_new_family_has_its_default_config_checked() -> None:
    transformers = pytest.importorskip("transformers")
    assert {getattr(transformers, c)().model_type for c in DEFAULTS} == NEW_FAMILIES


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_config_count_is_exact(name: str) -> None:
    _check(REAL[name]["config"], model_class=REAL[name].get("model_class"))


def test_every_real_config_cites_its_source() -> None:
    assert all(row["source"].startswith("https://huggingface.co/") for row in REAL.values())


def test_mistral3_image_tokens_and_kv() -> None:
    # Pixtral at its largest image, 1,540² px: 1540 / 14 = 110 patches a side, merged 2 × 2 → 55 a side:
    # 55² = 3,025 image tokens + 55 [IMG_BREAK]/[IMG_END] = 3,080 tokens of context per image
    spec = _spec("mistral-small-3.1-24b-instruct-2503")
    assert spec.vision is not None and spec.vision.tokens_per_image == 55 * 55 + 55 == 3080
    # the text model's cache: 40 layers × 8 kv heads × 128, no window
    assert kv_bytes_per_token(spec) == 2 * 40 * 8 * 128 * 2 == 163_840
    assert kv_bytes_per_token(_spec("ministral-3-8b-instruct-2512")) == 2 * 34 * 8 * 128 * 2


def _spec(name: str) -> Any:
    return spec_from_config(REAL[name]["config"])


# ---- KV cache, by hand from the architecture (bf16: 2 bytes; K and V: factor 2) ------------------------------


def test_kv_smollm3_all_layers_global() -> None:
    # 36 layers × 4 kv heads × 128 head_dim (2048 / 16); NoPE layers cache K/V like the others, no window
    spec = _spec("smollm3-3b")
    assert kv_bytes_per_token(spec) == 2 * 36 * 4 * 128 * 2 == 73_728
    assert kv_cache_bytes(spec, 65_536, 2) == 2 * 65_536 * 73_728


def test_kv_olmo3_three_sliding_one_global() -> None:
    # 32 layers, 32 kv heads × 128: 8 global layers keep every token, 24 sliding layers keep window - 1 = 4,095
    spec = _spec("olmo-3-7b")
    row = 2 * 32 * 128 * 2
    assert kv_cache_bytes(spec, 10_000, 1) == 8 * 10_000 * row + 24 * 4095 * row == 2_920_939_520
    assert kv_cache_bytes(spec, 1000, 3) == 3 * 32 * 1000 * row


def test_kv_seed_oss() -> None:
    spec = _spec("seed-oss-36b-instruct")  # 64 layers × 8 kv heads × head_dim 128
    assert kv_bytes_per_token(spec) == 2 * 64 * 8 * 128 * 2 == 262_144


def test_kv_exaone4_lllg_and_no_window() -> None:
    spec = _spec("exaone-4.0-32b")  # 64 layers: 48 local (4,096), 16 global; 8 kv heads × 128
    row = 2 * 8 * 128 * 2
    assert kv_cache_bytes(spec, 32_768, 1) == 16 * 32_768 * row + 48 * 4095 * row == 2_952_593_408
    small = _spec("exaone-4.0-1.2b")  # sliding_window null: 30 global layers, 8 kv heads × 64
    assert kv_cache_bytes(small, 32_768, 1) == 30 * 32_768 * (2 * 8 * 64 * 2)


def test_kv_cohere2_r7b() -> None:
    spec = _spec("c4ai-command-r7b-12-2024")  # 32 layers: 24 sliding (4,096), 8 global; 8 kv heads × 128
    row = 2 * 8 * 128 * 2
    assert kv_cache_bytes(spec, 8192, 4) == 4 * (8 * 8192 * row + 24 * 4095 * row)


def test_kv_glm_4_6_and_air() -> None:
    # GLM-4.6: 92 layers × 8 kv heads × head_dim 128 (not hidden / heads); the MTP layer is not built, not cached
    assert kv_bytes_per_token(_spec("glm-4.6")) == 2 * 92 * 8 * 128 * 2 == 376_832
    assert kv_bytes_per_token(_spec("glm-4.5-air")) == 2 * 46 * 8 * 128 * 2 == 188_416


def test_kv_ernie_hunyuan_phimoe_minimax() -> None:
    assert kv_bytes_per_token(_spec("ernie-4.5-21b-a3b")) == 2 * 28 * 4 * 128 * 2 == 57_344  # 2560 / 20 = 128
    assert kv_bytes_per_token(_spec("hunyuan-a13b-instruct")) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert kv_bytes_per_token(_spec("phi-3.5-moe-instruct")) == 2 * 32 * 8 * 128 * 2 == 131_072
    # MiniMax-M2: 62 layers × 8 kv heads × 128; partial RoPE (64 of 128) changes nothing in the cache
    assert kv_cache_bytes(_spec("minimax-m2"), 196_608, 1) == 196_608 * 2 * 62 * 8 * 128 * 2


def test_moe_active_parameters() -> None:
    # MiniMax-M2: 8 of 256 experts per token; the experts of one layer: 256 × 3 × 3,072 × 1,536
    spec = _spec("minimax-m2")
    count = count_parameters(spec)
    per_layer_experts = 256 * 3 * 3072 * 1536
    assert count.total - count.active == 62 * (per_layer_experts - per_layer_experts * 8 // 256)


# ---- LoRA on MoE families: PEFT adapts the fused experts under their v4 names, and then not the dense MLPs or
# shared experts of the same names (tiny configs, built on the CPU; trainable counts from PEFT itself)
_TINY_MOE: dict[str, dict[str, Any]] = {
    "glm4_moe": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=16, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2,
                     moe_intermediate_size=32, first_k_dense_replace=1, n_shared_experts=1),
    "ernie4_5_moe": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=100, moe_num_experts=8, moe_k=2, moe_intermediate_size=32,
                         moe_num_shared_experts=1),
    "hunyuan_v1_moe": dict(hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=16, vocab_size=100, num_experts=8, moe_topk=2),
    "minimax_m2": dict(hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, vocab_size=100, num_local_experts=8, num_experts_per_tok=2,
                       bos_token_id=1, eos_token_id=2),
    # llama4: experts are fused nn.Parameters (not modules): the defaults adapt attention, the shared expert and the
    # dense layers' MLP (interleave step 2: layers 1 and 3 MoE)
    "llama4_text": dict(hidden_size=64, intermediate_size=32, intermediate_size_mlp=96, num_hidden_layers=4,
                        num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=100, num_local_experts=4,
                        interleave_moe_layer_step=2, attention_chunk_size=32),
    # qwen2_moe: PEFT 0.22 converts it (experts adapted), 0.21 does not; shared_expert_gate is an nn.Linear(h, 1)
    "qwen2_moe": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, vocab_size=100, num_experts=8, num_experts_per_tok=2,
                      moe_intermediate_size=32, shared_expert_intermediate_size=48),
    # the other families transformers 5.25's conversion_mapping sends to qwen2_moe that memfit builds
    "glm4_moe_lite": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                          num_key_value_heads=4, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2,
                          moe_intermediate_size=32, first_k_dense_replace=1, n_shared_experts=1, q_lora_rank=32,
                          kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8),
    "deepseek_v32": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=4, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2,
                         moe_intermediate_size=32, first_k_dense_replace=1, n_shared_experts=1, q_lora_rank=32,
                         kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, index_n_heads=2,
                         index_head_dim=16, index_topk=8),
    "glm_moe_dsa": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                        num_key_value_heads=4, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2,
                        moe_intermediate_size=32, first_k_dense_replace=1, n_shared_experts=1, q_lora_rank=32,
                        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8, index_n_heads=2,
                        index_head_dim=16, index_topk=8),
    "qwen3_next": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=4, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=16, vocab_size=100, num_experts=8, num_experts_per_tok=2,
                       moe_intermediate_size=32, shared_expert_intermediate_size=48, linear_num_key_heads=2,
                       linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=16),
    "deepseek_v3": dict(hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                        num_key_value_heads=4, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2,
                        moe_intermediate_size=32, first_k_dense_replace=1, n_shared_experts=1, q_lora_rank=32,
                        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8),
}


@pytest.mark.parametrize("all_linear", [False, True])
@pytest.mark.parametrize("model_type", sorted(_TINY_MOE))
def test_lora_parameters_on_moe_equal_peft(model_type: str, all_linear: bool) -> None:
    """Against the installed PEFT, priced with that release's layout (0.21: the experts' names leave the dense MLPs
    and shared experts frozen; 0.22: both adapted, and Qwen2-MoE's experts too; ``all-linear`` adds the routers)."""
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import DEFAULT_TARGETS, lora_parameters

    release = tuple(int(x) for x in peft.__version__.split(".")[:2])
    layout = "0.22" if release >= (0, 22) else "0.21"
    conf = transformers.AutoConfig.for_model(model_type, **_TINY_MOE[model_type])
    model = transformers.AutoModelForCausalLM.from_config(conf)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "w1", "w3", "w2"] if model_type == "minimax_m2" \
        else list(DEFAULT_TARGETS)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear" if all_linear else targets))
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    priced = lora_parameters(spec_from_config(conf.to_dict()), 4, ["all-linear"] if all_linear else targets, layout)
    assert priced == trainable, (peft.__version__, layout)


def test_qwen3_next_state_by_hand() -> None:
    # 48 layers: 36 gated delta-net (3 of every 4), 12 full attention (2 kv heads × head_dim 256)
    spec = _spec("qwen3-next-80b-a3b-instruct")
    conv_dim = 2 * 16 * 128 + 32 * 128  # q and k: 16 heads × 128, v: 32 heads × 128
    # transformers: 4 conv columns in bf16 + the recurrent state 32 × 128 × 128 in fp32, per layer and sequence
    state = 4 * conv_dim * 2 + 32 * 128 * 128 * 4
    assert state == 2_162_688
    full_row = 2 * 2 * 256 * 2
    assert kv_cache_bytes(spec, 32_768, 4) == 4 * (36 * state + 12 * 32_768 * full_row)
    # vLLM: conv_kernel − 1 = 3 columns, the state in the cache dtype (bf16); llama.cpp: 3 columns, both f32
    assert kv_cache_bytes(spec, 1000, 1, "vllm") == 36 * (3 * conv_dim * 2 + 32 * 128 * 128 * 2) + 12 * 1000 * full_row
    assert kv_cache_bytes(spec, 1000, 1, "llamacpp", "f16") == (36 * (3 * conv_dim * 4 + 32 * 128 * 128 * 4)
                                                               + 12 * 1000 * full_row)


def test_qwen3_next_estimates_run_on_every_runtime() -> None:
    from memfit import estimate

    cfg = {**REAL["qwen3-next-80b-a3b-instruct"]["config"], "num_hidden_layers": 4}  # 3 linear + 1 full layer
    conv_dim = 2 * 16 * 128 + 32 * 128
    expected = {  # 3 linear layers' state + 1 full layer's K/V at 8,192 tokens (2 kv heads × 256); transformers'
        # peak is the gated delta-nets' prefill, before the full layer (layer 3) has made its K/V (DynamicCache fills
        # layer by layer): the 3 linear layers' state only (l12alloc5)
        "transformers": 3 * (4 * conv_dim * 2 + 32 * 128 * 128 * 4),
        "llamacpp": 3 * (3 * conv_dim * 4 + 32 * 128 * 128 * 4) + 8192 * 2 * 2 * 256 * 2,
    }
    for runtime in ("transformers", "vllm", "llamacpp"):
        est = estimate(cfg, mode="inference", runtime=runtime, context=8192)
        kv = sum(c.bytes for c in est.components if c.name == "kv_cache")
        assert kv == expected[runtime] if runtime in expected else kv > 0  # vLLM: the pool fills the device
    notes = estimate(cfg, mode="inference", runtime="transformers", context=8192).notes
    assert any("gated delta-net" in n for n in notes)


def test_qwen3_5_image_tokens() -> None:
    # one token per 2 × 2 merged 16-px patch, i.e. per 32 × 32 px: a 1,024² image adds 32 × 32 = 1,024 tokens,
    # a 1,280 × 720 frame 40 × 22.5 → 40 × 22 (the processor resizes to multiples of 32)
    from memfit.sources.families.hybrid_linear import qwen_vision_tokens

    transformers = pytest.importorskip("transformers")
    spec = spec_from_config(transformers.Qwen3_5Config().to_dict())
    assert spec.vision is not None and spec.vision.tokens_per_image == 32 * 32 == 1024
    # the tower, described but not counted: 453,650,672 parameters in Qwen3_5ForConditionalGeneration's default
    assert spec.vision.parameters == 0 and "453,650,672 parameters are not counted" in spec.vision.description
    assert qwen_vision_tokens(720, 1280, 16, 2) == 22 * 40


def test_lfm2_state_by_hand_on_every_runtime() -> None:
    # LFM2-350M: 16 layers, 6 of them GQA (8 kv heads × 1024 / 16 = 64), 10 short convolutions over 1,024 channels
    # with 3 taps: transformers keeps the last 3 inputs (bf16), vLLM and llama.cpp 2 (llama.cpp in f32)
    from memfit import estimate

    spec = _spec("lfm2-350m")
    row = 2 * 8 * 64 * 2
    assert kv_cache_bytes(spec, 4096, 2) == 2 * (10 * 3 * 1024 * 2 + 6 * 4096 * row)
    assert kv_cache_bytes(spec, 4096, 1, "vllm") == 10 * 2 * 1024 * 2 + 6 * 4096 * row
    est = estimate(REAL["lfm2-350m"]["config"], mode="inference", runtime="llamacpp", context=4096)
    assert sum(c.bytes for c in est.components if c.name == "kv_cache") == 10 * 2 * 1024 * 4 + 6 * 4096 * row
    for runtime in ("transformers", "vllm"):
        assert estimate(REAL["lfm2-350m"]["config"], mode="inference", runtime=runtime, context=4096).total_bytes > 0


def test_qwen3_moe_experts_under_the_transformers5_name() -> None:
    """transformers 5 writes a qwen3_moe config's expert count as ``num_local_experts`` (``num_experts`` null): the
    catalog's Qwen3-Coder-480B config re-saved that way has 160 experts, not the class default 128."""
    path = Path(__file__).resolve().parents[1] / "src/memfit/data/models/qwen3-coder-480b-a35b-instruct.json"
    cfg = json.loads(path.read_text())
    saved = {**cfg, "num_experts": None, "num_local_experts": cfg["num_experts"]}
    a, b = spec_from_config(cfg, "a"), spec_from_config(saved, "b")
    assert cfg["num_experts"] == 160
    assert {la.moe.num_experts for la in b.layers if la.moe} == {160}
    assert count_parameters(a).total == count_parameters(b).total
