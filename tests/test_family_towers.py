"""The towers of Llama 4, Gemma 4 and Gemma 3n (``sources/families/towers_recent.py``): exact counts against the
image-text class transformers 5.25 builds on the meta device, tower counts and image tokens worked out by hand, and
``--images`` adding those tokens to the context.

Gemma 3n's vision tower is built by timm: without timm the meta build is skipped and the count rests on the data row
(checked against timm's own build when timm is installed).
"""

from __future__ import annotations

from typing import Any

import pytest

from memfit import estimate
from memfit.inventory import count_parameters
from memfit.sources.families.towers_recent import timm_tower_parameters
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

# the image-text model_types whose counts this file checks against transformers
FAMILIES = {"gemma4", "llama4", "gemma4_unified", "gemma4_unified_text"}


def _meta_total(conf: Any, model_class: str) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        model = getattr(transformers, model_class)(conf)
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def _gemma4(**sub: Any) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.Gemma4Config(**sub)


@pytest.mark.parametrize("sub", [
    {"vision_config": {}, "audio_config": {}},  # E2B/E4B-shaped: both towers, the default sub-configs
    {"vision_config": {"hidden_size": 1152, "head_dim": 72, "num_attention_heads": 16, "num_key_value_heads": 16,
                       "intermediate_size": 4304, "num_hidden_layers": 27}},  # a wider vision tower, no audio
    {},  # no tower: the text model only
], ids=["vision+audio", "wide-vision", "text-only"])
def test_gemma4_count_is_exact(sub: dict[str, Any]) -> None:
    conf = _gemma4(**sub)
    total = _meta_total(conf, "Gemma4ForConditionalGeneration")
    assert count_parameters(spec_from_config(conf.to_dict())).total == total


@pytest.mark.parametrize("config_class, model_class, kw", [
    ("Gemma4UnifiedTextConfig", "Gemma4UnifiedForCausalLM", {}),
    ("Gemma4UnifiedTextConfig", "Gemma4UnifiedForCausalLM",
     {"num_hidden_layers": 12, "num_kv_shared_layers": 4, "attention_k_eq_v": True, "num_global_key_value_heads": 1,
      "use_double_wide_mlp": True}),
    ("Gemma4UnifiedConfig", "Gemma4UnifiedForConditionalGeneration", {}),
    ("Gemma4UnifiedConfig", "Gemma4UnifiedForConditionalGeneration", {"vision_config": {}, "audio_config": {}}),
], ids=["text", "text-shared-k_eq_v-wide", "no-embedders", "vision+audio"])
def test_gemma4_unified_count_is_exact(config_class: str, model_class: str, kw: dict[str, Any]) -> None:
    transformers = pytest.importorskip("transformers")
    conf = getattr(transformers, config_class)(**kw)
    assert count_parameters(spec_from_config(conf.to_dict())).total == _meta_total(conf, model_class)


def test_gemma4_unified_by_hand() -> None:
    """Gemma4UnifiedVisionConfig's defaults: 48-px patches (16 × pooling 3: 6,912 values), mm_embed_dim 3840,
    1,120 × 2 positions; the text width 2304 (Gemma4UnifiedTextConfig). KV: 25 sliding layers (window 1024, 4 kv
    heads × 256) and 5 global ones (4 × 512), bf16."""
    from memfit.memory.kv_cache import kv_cache_bytes

    spec = spec_from_config({"model_type": "gemma4_unified", "text_config": {}, "vision_config": {}})
    patch, mm = 48 * 48 * 3, 3840
    assert spec.vision is not None
    assert spec.vision.parameters == 2 * patch + patch * mm + mm + 2 * mm + 1120 * 2 * mm + 2 * mm + mm * 2304
    assert spec.vision.tokens_per_image == (768 // 48) ** 2 + 2 == 258
    assert kv_cache_bytes(spec, 4096, 1) == 25 * 1023 * 2 * 4 * 256 * 2 + 5 * 4096 * 2 * 4 * 512 * 2 == 272_527_360
    # bidirectional attention over everything: transformers halves the window when it loads the config
    both = spec_from_config({"model_type": "gemma4_unified_text", "use_bidirectional_attention": "all"})
    assert kv_cache_bytes(both, 4096, 1) == 25 * 512 * 2 * 4 * 256 * 2 + 5 * 4096 * 2 * 4 * 512 * 2


def test_llama4_count_with_the_tower_is_exact() -> None:
    transformers = pytest.importorskip("transformers")
    conf = transformers.Llama4Config(text_config={"num_hidden_layers": 4, "hidden_size": 512, "intermediate_size": 256,
                                                  "intermediate_size_mlp": 512, "num_attention_heads": 8,
                                                  "num_key_value_heads": 2, "head_dim": 64, "num_local_experts": 4})
    assert count_parameters(spec_from_config(conf.to_dict())).total == _meta_total(conf,
                                                                                   "Llama4ForConditionalGeneration")


def test_llama4_tower_by_hand() -> None:
    """Llama4VisionConfig's defaults: d 768, 34 layers, I 5632, 448 px / 14, projector 4096 → 4096, output 7680."""
    spec = spec_from_config({"model_type": "llama4", "text_config": {"hidden_size": 5120}, "vision_config": {}})
    d, inter = 768, 5632
    block = 4 * d * d + 4 * d + 2 * d * inter + inter + d + 4 * d  # q/k/v/o + biases, fc1/fc2 + biases, 2 LayerNorms
    tower = 3 * 14 * 14 * d + d + (32 * 32 + 1) * d + 4 * d + 34 * block + inter * 4096 + 4096 * 4096
    assert spec.vision is not None and spec.vision.parameters == tower + 7680 * 5120
    # a 448² px tile is 32² patches, pixel-shuffled by 0.5² to 256 tokens; a one-tile image adds 3 markers
    assert spec.vision.tokens_per_image == 256 + 3


def test_gemma4_image_tokens_by_hand() -> None:
    """A square image under the 280-soft-token budget (patch 16, pooling 3): 280·9·16² px² → 803 px, rounded down to a
    multiple of 48 = 768 px, 48² patches, 48²/9 = 256 soft tokens, + <boi> and <eoi>."""
    spec = spec_from_config(_gemma4(vision_config={}).to_dict())
    assert spec.vision is not None and spec.vision.tokens_per_image == 256 + 2
    est = estimate(spec, Workload(mode="inference", context=1000, images=3))
    assert est.details["image_tokens"] == 3 * 258
    assert any("258" in n for n in est.notes)


def test_gemma3n_audio_and_embedders_by_hand() -> None:
    """Gemma3nAudioConfig's defaults (h 1536, 8 heads, 12 conformer layers, kernel 5; two 3×3 stride-2 convolutions of
    128 and 32 channels over 128 mel bins → 64 → 32), and two 128-row embedders into the text width 2048."""
    h = 1536
    layer = (2 * (8 * h * h + 2 * h)  # two feed-forwards
             + 5 * h * h + h // 8 + 2 * h  # q/k/v, post, relative-position projection, per-dim scale, 2 norms
             + 3 * h * h + 5 * h + 2 * h  # light conv: h → 2h, depthwise 5 taps, h → h, 2 norms
             + h)  # block norm
    audio = 9 * 128 + 128 + 128 * 32 * 9 + 32 + 32 * 32 * h + 12 * layer
    embed_audio = 128 * h + 2 * h + h * 2048
    embed_vision = 128 * 2048 + 2 * 2048 + 2048 * 2048
    spec = spec_from_config({"model_type": "gemma3n", "text_config": {}})
    assert spec.vision is not None
    assert spec.vision.parameters == timm_tower_parameters("mobilenetv5_300m_enc") + embed_vision + audio + embed_audio
    assert audio == 681_348_640  # Gemma3nForConditionalGeneration's model.audio_tower on the meta device


def test_gemma3n_timm_tower_row_equals_timm() -> None:
    timm = pytest.importorskip("timm")
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model = timm.create_model("mobilenetv5_300m_enc", pretrained=False, num_classes=0)
    assert sum(p.numel() for p in model.parameters()) == timm_tower_parameters("mobilenetv5_300m_enc")


def test_gemma3n_count_is_exact_with_timm() -> None:
    pytest.importorskip("timm")
    transformers = pytest.importorskip("transformers")
    conf = transformers.Gemma3nConfig()
    total = _meta_total(conf, "Gemma3nForConditionalGeneration")
    assert count_parameters(spec_from_config(conf.to_dict())).total == total


def test_simulated_peaks_within_3_percent() -> None:
    """tests/data/simulated/families-towers.jsonl: text inputs, the towers' weights held (no gradient, no state)."""
    from pathlib import Path

    from tests._simulated import relative_errors

    errors = dict(relative_errors(Path(__file__).parent / "data" / "simulated" / "families-towers.jsonl"))
    assert {c.split("/")[0].split("-")[0] for c in errors} == {"gemma4", "gemma3n"}
    assert {c.split("/")[1].split("-")[0] for c in errors} == {"gen", "train"}
    assert all(-0.03 <= e <= 0.03 for e in errors.values()), errors


_SMALL_TEXT = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100}


@pytest.mark.parametrize("family, targets", [
    ("llama4", ("q_proj", "k_proj", "v_proj", "o_proj")), ("llama4", ("fc1", "fc2", "linear_1")),
    ("gemma4", ("linear",)), ("gemma4", ("all-linear",)),
    ("gemma4_unified", ("all-linear",)), ("gemma4_unified", ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                            "up_proj", "down_proj")),
])
def test_lora_with_the_towers_equals_peft(family: str, targets: tuple[str, ...]) -> None:
    """PEFT matches a target name against every Linear module, the towers' too."""
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import lora_parameters

    if family == "llama4":
        conf = transformers.Llama4Config(
            text_config={**_SMALL_TEXT, "intermediate_size_mlp": 128, "num_local_experts": 2},
            vision_config={"hidden_size": 32, "num_hidden_layers": 2, "intermediate_size": 64, "num_attention_heads": 2,
                           "vision_output_dim": 32, "projector_input_dim": 32, "projector_output_dim": 32})
        model = transformers.Llama4ForConditionalGeneration(conf)
    elif family == "gemma4":
        conf = transformers.Gemma4Config(
            text_config={**_SMALL_TEXT, "vocab_size_per_layer_input": 100, "hidden_size_per_layer_input": 0,
                         "global_head_dim": 32},
            vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                           "num_key_value_heads": 2, "head_dim": 16},
            audio_config={"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "output_proj_dims": 48})
        model = transformers.Gemma4ForConditionalGeneration(conf)
    else:
        conf = transformers.Gemma4UnifiedConfig(text_config={**_SMALL_TEXT, "global_head_dim": 32},
                                                vision_config={"mm_embed_dim": 32, "output_proj_dims": 32},
                                                audio_config={})
        model = transformers.Gemma4UnifiedForConditionalGeneration(conf)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(
        r=4, target_modules="all-linear" if targets == ("all-linear",) else list(targets)))
    trainable = sum(q.numel() for q in wrapped.parameters() if q.requires_grad)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, targets) == trainable


def test_unknown_timm_tower_is_one_clear_line() -> None:
    from memfit.errors import ConfigError

    with pytest.raises(ConfigError, match="mobilenetv5_300m_enc"):
        spec_from_config({"model_type": "gemma3n", "text_config": {}, "vision_config": {"architecture": "resnet50"}})
