"""Families made first-class late in issue 10 (deepseek_v32, gemma3n, the vision towers …): exact parameter counts
against transformers 5.25 on the meta device (the default config class and real configs), the KV cache worked out by
hand from the architecture, LoRA against PEFT, and the simulated peaks (tests/data/simulated/families-new.jsonl).

The real configs (tests/data/families/new_configs.json) are Hub config.json files transcribed from the cited pages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.memory.kv_cache import kv_bytes_per_token, kv_cache_bytes
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file

DATA = Path(__file__).parent / "data"
NEW = json.loads((DATA / "families" / "new_configs.json").read_text())
SIMULATED = DATA / "simulated" / "families-new.jsonl"

# the model_types made first-class here (each default config below; gemma3n's multimodal class needs timm)
FAMILIES = {"deepseek_v32", "gemma3n_text", "gemma3n", "gemma4_text", "llava", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe",
            "idefics3", "mllama"}
# config class -> the model class transformers builds it with (None: AutoModelForCausalLM)
DEFAULTS: dict[str, str | None] = {
    "DeepseekV32Config": None, "Gemma3nTextConfig": None, "Gemma4TextConfig": None,
    "LlavaConfig": "LlavaForConditionalGeneration",
    "Qwen2_5_VLConfig": "Qwen2_5_VLForConditionalGeneration", "Qwen3VLConfig": "Qwen3VLForConditionalGeneration",
    "Qwen3VLMoeConfig": "Qwen3VLMoeForConditionalGeneration", "Idefics3Config": "Idefics3ForConditionalGeneration",
}


def _check(cfg: dict[str, Any], reference: Any = None, model_class: str | None = None) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(cfg, reference, model_class)


@pytest.mark.parametrize("config_class", sorted(DEFAULTS))
def test_default_config_count_is_exact(config_class: str) -> None:
    transformers = pytest.importorskip("transformers")
    conf = getattr(transformers, config_class)()
    _check(conf.to_dict(), conf, DEFAULTS[config_class])


def test_each_family_has_its_default_config_checked() -> None:
    transformers = pytest.importorskip("transformers")
    # gemma3n's image-audio class needs timm; mllama's token table has 8 rows more than its head (checked below)
    assert {getattr(transformers, c)().model_type for c in DEFAULTS} | {"gemma3n", "mllama"} == FAMILIES


@pytest.mark.parametrize("name", sorted(n for n in NEW if NEW[n]["config"]["model_type"] != "mllama"))
def test_real_config_count_is_exact(name: str) -> None:
    _check(NEW[name]["config"], model_class=NEW[name].get("model_class"))


def test_every_real_config_cites_its_source() -> None:
    assert all(row["source"].startswith("https://huggingface.co/") for row in NEW.values())


def _spec(name: str) -> Any:
    return spec_from_config(NEW[name]["config"])


# ---- DeepSeek-V3.2: MLA latent + the lightning indexer's key, every layer -------------------------------------


def test_deepseek_v32_kv_by_hand() -> None:
    spec = _spec("deepseek-v3.2")
    # transformers (DynamicIndexedLayer): latent 512 + rope 64 and the indexer key of 128, bf16, 61 layers
    assert kv_bytes_per_token(spec) == 61 * (512 + 64 + 128) * 2 == 85_888
    assert kv_cache_bytes(spec, 32_768, 2) == 2 * 32_768 * 85_888
    # vLLM: the latent in the KV dtype, the indexer key in fp8 with one fp32 scale per 128 values (132 B)
    assert kv_bytes_per_token(spec, "vllm") == 61 * ((512 + 64) * 2 + 128 + 4)
    assert kv_bytes_per_token(spec, "vllm", "fp8") == 61 * ((512 + 64) + 132)


def test_deepseek_v32_indexer_parameters_by_hand() -> None:
    from memfit.inventory import layer_parameters

    v3 = {**NEW["deepseek-v3.2"]["config"], "model_type": "deepseek_v3"}
    for k in ("index_head_dim", "index_n_heads", "index_topk"):
        v3.pop(k)
    # wq_b 1536 → 64 × 128, wk 7168 → 128, LayerNorm(128) weight and bias, weights_proj 7168 → 64
    indexer = 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64
    assert layer_parameters(_spec("deepseek-v3.2"), 5) - layer_parameters(spec_from_config(v3), 5) == indexer


def test_deepseek_v32_mlp_layer_types() -> None:
    cfg = {**NEW["deepseek-v3.2"]["config"], "num_hidden_layers": 3, "mlp_layer_types": ["sparse", "dense", "sparse"]}
    spec = spec_from_config(cfg)
    assert [layer.moe is not None for layer in spec.layers] == [True, False, True]
    from memfit.errors import ConfigError

    with pytest.raises(ConfigError, match="mlp_layer_types"):
        spec_from_config({**cfg, "mlp_layer_types": ["sparse", "dense"]})


def test_lora_on_the_indexer_equals_peft_deepseek_v32() -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import lora_parameters

    conf = transformers.AutoConfig.for_model(
        "deepseek_v32", hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=4, vocab_size=100, n_routed_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
        first_k_dense_replace=1, n_shared_experts=1, q_lora_rank=32, kv_lora_rank=16, qk_rope_head_dim=8,
        qk_nope_head_dim=8, v_head_dim=8, index_n_heads=4, index_head_dim=16, n_group=2, topk_group=1)
    # the indexer's projections by name (PEFT's all-linear on fused experts is its own matter: test_families)
    for targets in (["q_a_proj", "kv_b_proj", "o_proj", "wq_b", "wk", "weights_proj"], ["q_b_proj", "wq_b"]):
        model = transformers.AutoModelForCausalLM.from_config(conf)
        wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=targets))
        trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
        assert lora_parameters(spec_from_config(conf.to_dict()), 4, targets) == trainable, targets


# ---- the simulated peaks ---------------------------------------------------------------------------------------


# no known deviation: LLaVA trained on text only was +3.7 % until a dense layer's backward moments were modelled
# (memory/backward_moments.py; +0.28 % since)
KNOWN_HIGH: dict[str, float] = {}


def test_simulated_within_three_percent() -> None:
    rows, _ = validate_file(SIMULATED)
    errors = {r.case: r.relative_error for r in rows}
    assert errors and all(e is not None for e in errors.values())
    bad = {c: e for c, e in errors.items()
           if e is None or not -0.02 <= e <= (KNOWN_HIGH.get(c, 0.03))}
    assert not bad, bad


def test_simulated_cover_inference_and_training_per_family() -> None:
    kinds: dict[str, set[str]] = {}
    for line in SIMULATED.read_text().splitlines()[1:]:
        r = json.loads(line)
        kinds.setdefault(str(r["config"]["model_type"]), set()).add(
            "training" if r["kind"] in ("train", "lora") else "inference")
    assert kinds and all(k == {"inference", "training"} for k in kinds.values()), kinds
    # every image-text family of the issue is simulated (on text-only inputs)
    assert {"llava", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "mllama", "idefics3"} <= set(kinds), kinds


# ---- Gemma 3n: KV sharing, per-layer embeddings, AltUp ----------------------------------------------------------


def test_gemma3n_kv_sharing_by_hand() -> None:
    # E2B: 30 layers, the last 10 reuse earlier caches: 20 cached, of which layers 4, 9, 14, 19 are global and 16
    # slide over 512 tokens (DynamicSlidingWindowLayer keeps 511); 2 kv heads × 256, bf16: 2,048 B per token
    spec = _spec("gemma-3n-e2b-it-text")
    row = 2 * 2 * 256 * 2
    assert kv_cache_bytes(spec, 32_768, 1) == 4 * 32_768 * row + 16 * 511 * row == 285_179_904
    # E4B: 35 layers, 15 shared: again 20 cached (4 global)
    assert kv_cache_bytes(_spec("gemma-3n-e4b-it-text"), 8192, 2) == 2 * (4 * 8192 * row + 16 * 511 * row)
    # vLLM shares them too (kv_sharing_target_layer_name): 20 layers' rows per token
    assert kv_bytes_per_token(spec, "vllm") == 20 * row


def test_gemma3n_llamacpp_cache_and_per_layer_embeddings_on_the_host() -> None:
    from memfit import estimate

    cfg = NEW["gemma-3n-e4b-it-text"]["config"]
    est = estimate(cfg, mode="inference", runtime="llamacpp", context=32_768, dtype="f16")
    kv = sum(c.bytes for c in est.components if c.name == "kv_cache")
    # llama.cpp: 4 global layers keep 32,768 cells; 16 sliding layers PAD(512 + n_ubatch 512, 256) = 1,024 cells
    assert kv == 4 * 32_768 * 2048 + 16 * 1024 * 2048 == 301_989_888
    # the per-layer token table (262,144 × 35 × 256, F16) is an input tensor: host memory, with the token table
    host = sum(c.bytes for c in est.components if c.name == "weights" and not c.on_device)
    assert host == (262_144 * 35 * 256 + 262_400 * 2048) * 2


def test_gemma3n_parameters_by_hand() -> None:
    from memfit.inventory import count_parameters, layer_parameters

    spec = _spec("gemma-3n-e2b-it-text")
    h, p, n, r, inter, L = 2048, 256, 4, 64, 8192, 30
    attn_own = h * 8 * 256 + 2 * h * 2 * 256 + 8 * 256 * h + 2 * 256  # q, k, v, o; q and k norms (v_norm: none)
    block = (4 * h + 3 * h * inter  # sandwich norms, MLP
             + h + n * n + n * n * n + h * n + h  # AltUp: output scale, correction, prediction, router, router norm
             + 2 * h * r + h  # LAuReL
             + 2 * h * p + h)  # per-layer input gate, projection, post norm
    assert layer_parameters(spec, 0) == block + attn_own
    assert layer_parameters(spec, 29) == block + attn_own - 2 * h * 2 * 256 - 256  # shared: no k/v, no k norm
    model = 262_400 * h + 262_144 * L * p + h * L * p + p + 2 * (n - 1) * h * h + h  # tied head
    assert count_parameters(spec).total == model + 20 * (block + attn_own) + 10 * (block + attn_own - 2 * h * 512 - 256)


def test_lora_on_gemma3n_equals_peft() -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import DEFAULT_TARGETS, lora_parameters

    conf = transformers.AutoConfig.for_model(
        "gemma3n_text", hidden_size=64, intermediate_size=128, num_hidden_layers=5, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, vocab_size=100, vocab_size_per_layer_input=100,
        hidden_size_per_layer_input=8, num_kv_shared_layers=2, laurel_rank=4,
        layer_types=["sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"])
    model = transformers.AutoModelForCausalLM.from_config(conf)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=list(DEFAULT_TARGETS)))
    trainable = sum(q.numel() for q in wrapped.parameters() if q.requires_grad)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, DEFAULT_TARGETS) == trainable


# ---- vision towers: image tokens per image, from the config ----------------------------------------------------


def test_image_tokens_per_image_by_hand() -> None:
    # LLaVA-1.5: CLIP ViT-L/14 at 336 px: (336 / 14)² = 576 patch features, the CLS one dropped ("default")
    llava = _spec("llava-1.5-7b-hf")
    assert llava.vision is not None and llava.vision.tokens_per_image == 24 * 24 == 576
    # Qwen2.5-VL: one token per 2 × 2 merged 14-px patch = 28 px: a 1,024² image is 37 × 37 merged patches
    qwen = _spec("qwen2.5-vl-7b-instruct")
    assert qwen.vision is not None and qwen.vision.tokens_per_image == 37 * 37 == 1369
    from memfit.sources.families.vision_towers import qwen_vision_tokens

    assert qwen_vision_tokens(720, 1280, 14, 2) == 26 * 46  # 720 / 28 = 25.7 -> 26, 1280 / 28 = 45.7 -> 46
    # Qwen3-VL (catalog): 16-px patches merged 2 × 2 = 32 px: 1,024² px -> 32 × 32
    vl = spec_from_config(json.loads((Path(__file__).parents[1] / "src/memfit/data/models/qwen3-vl-8b-instruct.json")
                                     .read_text()))
    assert vl.vision is not None and vl.vision.tokens_per_image == 32 * 32
    # Idefics3 (default config: 224-px tiles of 32-px patches, pixel shuffle 2): 49 // 4 = 12 tokens a tile; an image
    # with a 4 × 224 px longest edge is 4 × 4 tiles + the global one
    transformers = pytest.importorskip("transformers")
    ide = spec_from_config(transformers.Idefics3Config().to_dict())
    assert ide.vision is not None and ide.vision.tokens_per_image == 17 * ((224 // 32) ** 2 // 4)


def test_vision_tower_parameters_by_hand() -> None:
    # LLaVA-1.5-7B's CLIP ViT-L/14-336 and two-layer projector (biases), beside the Llama-2-7B text model
    d, inter, n = 1024, 4096, 24
    tower = d + d * 3 * 14 * 14 + 577 * d + 2 * d + n * (4 * d * d + 4 * d + 4 * d + 2 * d * inter + inter + d) + 2 * d
    projector = d * 4096 + 4096 + 4096 * 4096 + 4096
    spec = _spec("llava-1.5-7b-hf")
    assert spec.vision is not None and spec.vision.parameters == tower + projector == 303_507_456 + 20_979_712


# ---- --images: the image tokens join the context, the output says how many ------------------------------------


def test_images_add_their_tokens_to_the_context() -> None:
    from memfit import estimate

    cfg = NEW["llava-1.5-7b-hf"]["config"]
    est = estimate(cfg, mode="inference", context=1000, images=3, dtype="bf16")
    kv = sum(c.bytes for c in est.components if c.name == "kv_cache")
    # 1,000 text tokens + 3 × 576 image tokens, 32 layers × 32 kv heads × 128 × 2 (K, V) × 2 B
    assert kv == (1000 + 3 * 576) * 32 * 32 * 128 * 2 * 2
    assert est.details["image_tokens_per_image"] == 576 and est.details["image_tokens"] == 1728
    assert any("576 tokens per image" in n for n in est.notes)
    # the tower's encoding moment is stated (CLIP: 576 patches a image, 4 × 1024 + 2 × 4096 per patch token)
    assert est.details["vision_tower_peak_bytes"] == 3 * 576 * (4 * 1024 + 2 * 4096) * 2 + 3 * 576 * 4096 * 2
    base = estimate(cfg, mode="inference", context=1000 + 1728, dtype="bf16")
    assert sum(c.bytes for c in base.components if c.name == "kv_cache") == kv


def test_images_on_a_text_model_is_refused_with_the_fix() -> None:
    from memfit import estimate
    from memfit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no vision tower.*drop --images"):
        estimate(NEW["deepseek-v3.2"]["config"], mode="inference", images=1)


# ---- Gemma 4 text: global layers of their own shape, KV sharing, the MoE block ---------------------------------


def test_gemma4_kv_by_hand() -> None:
    # 26B-A4B: 30 layers, every sixth global; sliding layers 8 kv heads × 256 over 1,024 tokens (1,023 kept), global
    # layers 2 kv heads × 512 (attention_k_eq_v: V is the normed K, the cache still keeps both)
    spec = _spec("gemma-4-26b-a4b-text")
    sliding, full = 2 * 8 * 256 * 2, 2 * 2 * 512 * 2
    assert kv_cache_bytes(spec, 32_768, 1) == 5 * 32_768 * full + 25 * 1023 * sliding == 880_599_040
    # 31B: 60 layers; sliding 16 kv × 256, global 4 kv × 512
    big = _spec("gemma-4-31b-it-text")
    assert kv_cache_bytes(big, 8192, 2) == 2 * (10 * 8192 * (2 * 4 * 512 * 2) + 50 * 1023 * (2 * 16 * 256 * 2))


def test_gemma4_kv_sharing_and_double_wide_mlp() -> None:
    transformers = pytest.importorskip("transformers")
    conf = transformers.Gemma4TextConfig(num_kv_shared_layers=12, use_double_wide_mlp=True)
    spec = spec_from_config(conf.to_dict())
    # 30 layers, the last 12 shared: 18 cached, of which layers 5, 11, 17 global (4 kv × 512) and 15 sliding (4 × 256)
    assert kv_cache_bytes(spec, 4096, 1) == 3 * 4096 * (2 * 4 * 512 * 2) + 15 * 511 * (2 * 4 * 256 * 2)
    assert spec.layers[29].mlp is not None and spec.layers[29].mlp.intermediate_size == 2 * 9216


def test_lora_on_gemma4_equals_peft() -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import DEFAULT_TARGETS, lora_parameters

    conf = transformers.Gemma4TextConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
        head_dim=16, global_head_dim=32, vocab_size=100, vocab_size_per_layer_input=100, hidden_size_per_layer_input=8,
        attention_k_eq_v=True, num_global_key_value_heads=1, num_kv_shared_layers=0)
    model = transformers.AutoModelForCausalLM.from_config(conf)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=list(DEFAULT_TARGETS)))
    trainable = sum(q.numel() for q in wrapped.parameters() if q.requires_grad)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, DEFAULT_TARGETS) == trainable


# ---- Llama 3.2 Vision (mllama): cross-attention layers cache the image tokens, not the text ---------------------


def test_mllama_count_every_block() -> None:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from _meta_oracle import reference_counts
    from memfit.inventory import count_parameters, layer_parameters

    for cfg in (transformers.MllamaConfig().to_dict(), NEW["llama-3.2-11b-vision"]["config"]):
        total, per_block, _ = reference_counts(cfg, "MllamaForConditionalGeneration")
        spec = spec_from_config(cfg)
        assert count_parameters(spec).total == total
        assert {i: layer_parameters(spec, i) for i in range(spec.num_layers)} == per_block


def test_mllama_kv_by_hand() -> None:
    from memfit import estimate

    spec = _spec("llama-3.2-11b-vision")
    # the text cache: the 32 self-attention layers only (8 kv heads × 128, bf16)
    assert kv_bytes_per_token(spec) == 32 * 2 * 8 * 128 * 2
    v = spec.vision
    assert v is not None and v.cross_attention_tokens == 4 * ((560 // 14) ** 2 + 1) == 6404 and v.tokens_per_image == 1
    est = estimate(NEW["llama-3.2-11b-vision"]["config"], mode="inference", context=1000, images=2, dtype="bf16")
    kv = sum(c.bytes for c in est.components if c.name == "kv_cache")
    # 1,000 text tokens + 2 <|image|> tokens in 32 layers; 2 × 6,404 vision tokens in the 8 cross-attention layers
    assert kv == 1002 * 32 * 4096 + 2 * 6404 * 8 * 4096
