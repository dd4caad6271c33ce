"""LoRA / QLoRA: trainable parameters exactly (by hand from the architecture), targets, QLoRA base bytes."""

from __future__ import annotations

import pytest

from memfit import estimate
from memfit.errors import ConfigError
from memfit.memory.lora import adapted_tensors, lora_parameters, target_kinds
from memfit.sources.loader import load_model

ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_llama_3_1_8b_r16_all_linear() -> None:
    # per layer: q (4096+4096), k (4096+1024), v (4096+1024), o (4096+4096), gate/up/down 3 × (4096+14336)
    per_layer = 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))
    assert per_layer == 1_310_720
    assert lora_parameters(load_model("llama-3.1-8b"), 16, ALL) == 32 * per_layer == 41_943_040


def test_llama_2_7b_r8_q_v() -> None:
    # formulas.md §5.6: 32 · 8 · (4096 + 4096) · 2 = 4,194,304 (PEFT's printed count)
    assert lora_parameters(load_model("llama-2-7b-hf"), 8, ("q_proj", "v_proj")) == 4_194_304


def test_gpt2_module_names() -> None:
    spec = load_model("gpt2")
    # c_attn (768 → 2304) and both c_proj (768 → 768, 3072 → 768) on 12 layers, r = 8
    expected = 12 * 8 * ((768 + 2304) + (768 + 768) + (3072 + 768))
    assert lora_parameters(spec, 8, ("c_attn", "c_proj")) == expected


def test_targets() -> None:
    assert target_kinds(["q_proj", "lm_head"]) == {"attn_q", "output"}
    assert "ffn_down" in target_kinds(["all-linear"])
    assert not any(t.kind == "output" for t in adapted_tensors(load_model("llama-3.2-1b"), ["all-linear"]))
    with pytest.raises(ConfigError):
        target_kinds(["not_a_module"])


def test_lora_estimate_components() -> None:
    e = estimate("llama-3.1-8b", mode="lora", batch=1, context=2048, lora_rank=16, checkpointing="full",
                 mixed_precision=False)
    j = e.to_json()
    n = 41_943_040
    assert j["components"]["lora_weights"] == 4 * n  # fp32 adapters
    assert j["components"]["optimizer_states"] == 8 * n  # AdamW m, v in fp32
    assert j["components"]["weights"] == 2 * 8_030_261_248  # frozen bf16 base
    assert e.details["trainable_parameters"] == n


def test_qlora_base_bytes_by_hand() -> None:
    """NF4 + double quantization of every block Linear (block 64, absmax uint8 with a fp32 scale per 256
    blocks, per tensor 4 B offset + 256 fp32 nested code + 16 fp32 NF4 code); every other parameter fp32
    after prepare_model_for_kbit_training."""
    spec = load_model("llama-3.1-8b")
    shapes = [(4096, 4096), (1024, 4096), (1024, 4096), (4096, 4096), (14336, 4096), (14336, 4096), (4096, 14336)]
    per_layer = 0
    for out, inp in shapes:
        n = out * inp
        blocks = -(-n // 64)
        per_layer += n // 2 + blocks + 4 * -(-blocks // 256) + 4 + 4 * 256 + 4 * 16
    other = 8_030_261_248 - 32 * sum(o * i for o, i in shapes)
    e = estimate(spec, mode="qlora", batch=1, context=512, checkpointing="full", mixed_precision=False)
    assert e.component("weights") == 32 * per_layer + 4 * other


def test_phi3_default_targets_match_module_names_like_peft() -> None:
    """Phi-3 fuses qkv_proj and gate_up_proj: the default names match only o_proj and down_proj
    (PEFT matches module-name suffixes, so up_proj does not adapt gate_up_proj)."""
    spec = load_model("phi-3.5-mini-instruct")
    per_layer = 16 * ((3072 + 3072) + (8192 + 3072))
    assert lora_parameters(spec, 16, ALL) == 32 * per_layer
    fused = 16 * ((3072 + 3 * 3072) + (3072 + 2 * 8192))
    assert lora_parameters(spec, 16, ("qkv_proj", "gate_up_proj")) == 32 * fused


def test_moe_experts_adapted_like_peft_param_wrapper() -> None:
    """OLMoE-1B-7B (h 2048, 64 experts of I 1024, 16 layers), r = 16, default targets: PEFT 0.21 wraps the
    fused experts: gate_up_proj rank 2r per expert (A 2r·E × h, B 2I × 2r·E), down_proj rank r
    (A r·E × I, B h × r·E), plus q, k, v, o (2048 → 2048 each)."""
    from memfit.sources.hf_config import spec_from_config
    cfg = {"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024, "num_hidden_layers": 16,
           "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
           "vocab_size": 50304, "max_position_embeddings": 4096}
    spec = spec_from_config(cfg, "olmoe")
    r, e, h, inter = 16, 64, 2048, 1024
    attention = 4 * r * (h + h)
    gate_up = 2 * r * e * h + 2 * inter * 2 * r * e
    down = r * e * inter + h * r * e
    assert lora_parameters(spec, r, ALL) == 16 * (attention + gate_up + down) == 188_743_680
    with pytest.raises(ConfigError):
        lora_parameters(spec, r, ("q_proj", "gate_proj"))
