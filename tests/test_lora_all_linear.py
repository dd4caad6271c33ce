"""LoRA with ``all-linear`` on every MoE family memfit builds and on the linear-attention hybrids, against PEFT itself.

PEFT's ``all-linear`` (``tuners_utils._maybe_include_all_linear_layers``) targets every ``nn.Linear`` / ``Conv1D``
but the output layer; on the families whose v4 → v5 expert conversion PEFT knows it also reaches the fused experts
and the router's weight (``lora.ParamWrapper``). So a router is adapted as a Linear where transformers 5.25 makes it
one (``Llama4Router(nn.Linear)``, ``HunYuanMoEV1Gate.wg``, ``DbrxRouter.layer``, ``PhimoeTopKRouter(nn.Linear)``),
through the conversion where PEFT knows the family, and not at all where it is a module with a raw ``nn.Parameter``
(``GptOssTopKRouter``, ``JambaTopKRouter``, ``GraniteMoeHybridTopKRouter`` …). The gated delta-net's input
projections are Linears: ``in_proj_qkvz`` and ``in_proj_ba`` (Qwen3-Next), ``in_proj_qkv``, ``_z``, ``_b``, ``_a``
(Qwen3.5).

Each model is transformers' default config for the family (``hunyuan_v1_moe``: a tiny one, its default cannot be
built), built on the meta device; PEFT adds its adapters there too (``low_cpu_mem_usage``). The PEFT release is the
installed one (0.21 in the venv; put PEFT 0.22 first on PYTHONPATH for the other layout).
"""

from __future__ import annotations

from typing import Any

import pytest

from memfit.memory.lora import lora_parameters
from memfit.sources.hf_config import SUPPORTED_FAMILIES, spec_from_config

# every family whose default config memfit reads as MoE (test_every_moe_family_is_listed keeps this complete)
MOE_FAMILIES = ["bailing_hybrid", "dbrx", "deepseek_v2", "deepseek_v3", "deepseek_v32", "deepseek_v4", "ernie4_5_moe",
                "glm4_moe", "glm4_moe_lite", "glm_moe_dsa", "gpt_oss", "granitemoehybrid", "hunyuan_v1_moe", "jamba",
                "kimi_linear", "llama4", "llama4_text", "mimo_v2_flash", "minimax_m2", "mixtral", "nemotron_h", "olmoe",
                "phimoe", "qwen2_moe", "qwen3_5_moe", "qwen3_5_moe_text", "qwen3_moe", "qwen3_next", "qwen3_vl_moe"]
HYBRIDS = ["qwen3_5", "qwen3_5_text", "lfm2"]
_OVERRIDES: dict[str, dict[str, Any]] = {
    "dbrx": {"attn_config": {"rope_theta": 10000.0}},  # DbrxConfig() lacks the rope_theta its attention reads
    "deepseek_v2": {"num_experts_per_tok": 6},  # its default top-k is null, which memfit rejects
    "hunyuan_v1_moe": dict(hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=16, vocab_size=100, num_experts=8, moe_topk=2),
    # LFM2's default has no short-convolution layer: two of four here
    "lfm2": {"num_hidden_layers": 4, "layer_types": ["conv", "full_attention", "conv", "full_attention"]},
}
# PEFT refuses all-linear on its Mamba model types (out_proj and conv1d are incompatible with its Mamba kernels)
_PEFT_REFUSES = {"nemotron_h"}


def _config(model_type: str) -> Any:
    transformers = pytest.importorskip("transformers")
    return transformers.AutoConfig.for_model(model_type, **_OVERRIDES.get(model_type, {}))


def _layout(peft: Any) -> str:
    return "0.22" if tuple(int(x) for x in peft.__version__.split(".")[:2]) >= (0, 22) else "0.21"


@pytest.mark.parametrize("model_type", MOE_FAMILIES + HYBRIDS)
def test_all_linear_equals_peft(model_type: str) -> None:
    pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from _meta_oracle import build_meta

    conf = _config(model_type)
    model = build_meta(conf)
    lora = peft.LoraConfig(r=4, target_modules="all-linear")
    if model_type in _PEFT_REFUSES:
        with pytest.raises(ValueError, match="incompatible with Mamba"):
            peft.get_peft_model(model, lora, low_cpu_mem_usage=True)
        return
    wrapped = peft.get_peft_model(model, lora, low_cpu_mem_usage=True)
    # memfit prices Qwen3-VL-MoE's text model; its vision tower's Linears are adapted too but not priced here
    trainable = sum(p.numel() for n, p in wrapped.named_parameters() if p.requires_grad and ".visual." not in n)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, ["all-linear"], _layout(peft)) == trainable


# MoE model types memfit reads through its generic path that transformers 5.25's conversion_mapping sends to qwen2_moe
# (PEFT converts their experts like Qwen3-MoE's): the default targets reach the fused experts, all-linear the router;
# sarvam_mla is read as deepseek_v3; granitemoe(shared) have no conversion. longcat_flash (-> qwen2_moe too): experts
# of expert_ffn_hidden_size (2,048, not ffn_hidden_size), a router over 512 + 256 zero-computation experts, and MLA
# projections all-linear reaches (failed before l12longcat: 557,056 priced against PEFT 0.21's 58,834,944)
GENERIC_MOE = ["afmoe", "dots1", "solar_open", "mellum", "beam", "flex_olmo", "sarvam_mla", "exaone_moe", "cohere2_moe",
               "granitemoe", "granitemoeshared", "longcat_flash"]
# Dots1Config() leaves the experts null: dots.llm1's values, 4 layers
_OVERRIDES["dots1"] = {"n_routed_experts": 128, "num_experts_per_tok": 8, "n_shared_experts": 2,
                       "first_k_dense_replace": 1, "num_hidden_layers": 4}
_OVERRIDES["longcat_flash"] = {"num_hidden_layers": 2}  # one LongCat block (two attention and MLP sublayers)


@pytest.mark.parametrize("all_linear", [False, True])
@pytest.mark.parametrize("model_type", GENERIC_MOE)
def test_generic_moe_families_equal_peft(model_type: str, all_linear: bool) -> None:
    pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from _meta_oracle import build_meta, reference_counts
    from memfit.inventory import count_parameters, inventory
    from memfit.memory.lora import DEFAULT_TARGETS

    conf = _config(model_type)
    spec = spec_from_config(conf.to_dict())
    assert count_parameters(spec).total == reference_counts(conf)[0]  # the generic path counts it exactly
    targets = "all-linear" if all_linear else list(DEFAULT_TARGETS)
    wrapped = peft.get_peft_model(build_meta(conf), peft.LoraConfig(r=4, target_modules=targets),
                                  low_cpu_mem_usage=True)
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    priced = lora_parameters(spec, 4, [targets] if all_linear else list(DEFAULT_TARGETS), _layout(peft))
    # not priced: under PEFT 0.22 all-linear keeps the attention's output gate (self_attn.gate_proj, an nn.Linear the
    # generic path writes as attn_other; 0.21 moves the name gate_proj to the experts): r·(in + out) per layer
    gates = sum(4 * sum(t.shape) for t in inventory(spec)
                if t.kind == "attn_other" and t.name.endswith("gate_proj.weight"))
    assert trainable - priced == (gates if all_linear and _layout(peft) == "0.22" else 0)


def test_every_moe_family_is_listed() -> None:
    pytest.importorskip("transformers")
    moe = set()
    for family in SUPPORTED_FAMILIES:
        if family == "deepseek":  # remote code only: no config class in transformers
            continue
        if spec_from_config(_config(family).to_dict() | _OVERRIDES.get(family, {})).is_moe:
            moe.add(family)
    assert moe == set(MOE_FAMILIES)


def _tiny(model_type: str, **kw: Any) -> Any:
    return spec_from_config(_config(model_type).to_dict() | kw)


def test_gated_delta_net_projections_by_hand() -> None:
    # h = 64, 2 key heads × 16, 4 value heads × 16: key_dim 32, value_dim 64, conv_dim 2·32 + 64 = 128; layers 0-2
    # linear attention, 3 full (full_attention_interval 4); r = 4
    dims = dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                vocab_size=100, linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=16,
                linear_value_head_dim=16, layer_types=None)
    nxt = _tiny("qwen3_next", intermediate_size=160, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
                shared_expert_intermediate_size=48, **dims)
    # Qwen3NextGatedDeltaNet: in_proj_qkvz (64 → 128 + 64), in_proj_ba (64 → 2·4)
    qkvz, ba = 4 * (64 + 192), 4 * (64 + 8)
    assert (qkvz, ba) == (1024, 288)
    assert lora_parameters(nxt, 4, ["in_proj_qkvz"]) == 3 * 1024
    assert lora_parameters(nxt, 4, ["in_proj_qkvz", "in_proj_ba"]) == 3 * (1024 + 288) == 3936
    # Mamba's module name in_proj is not a suffix of either: nothing to adapt on the delta-nets
    assert lora_parameters(nxt, 4, ["in_proj", "in_proj_ba"]) == 3 * 288
    q35 = _tiny("qwen3_5_text", intermediate_size=96, **dims)
    # Qwen3_5GatedDeltaNet: in_proj_qkv (64 → 128), in_proj_z (64 → 64), in_proj_b and in_proj_a (64 → 4 each)
    per_layer = 4 * (64 + 128) + 4 * (64 + 64) + 2 * 4 * (64 + 4)
    assert per_layer == 1824
    assert lora_parameters(q35, 4, ["in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"]) == 3 * 1824


def test_linear_routers_by_hand() -> None:
    # PhimoeTopKRouter(nn.Linear)(h → E) and DbrxRouter.layer: all-linear adds r·(h + E) per MoE layer beyond the
    # attention (Phi-MoE: q, k, v, o; DBRX: Wqkv, out_proj); neither family's experts are adapted (no conversion)
    phi = _tiny("phimoe", hidden_size=64, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, num_local_experts=8, vocab_size=100)
    attn = 4 * (64 + 64) + 2 * 4 * (64 + 32) + 4 * (64 + 64)  # q, k and v (2 kv heads × 16), o
    assert lora_parameters(phi, 4, ["all-linear"]) == 2 * (attn + 4 * (64 + 8)) == 2 * 2080
    dbrx = _tiny("dbrx", d_model=64, n_heads=4, n_layers=2, vocab_size=100,
                 attn_config={"kv_n_heads": 2, "rope_theta": 10000.0},
                 ffn_config={"ffn_hidden_size": 32, "moe_num_experts": 8, "moe_top_k": 2})
    wqkv, out = 4 * (64 + 64 + 2 * 32), 4 * (64 + 64)
    assert lora_parameters(dbrx, 4, ["all-linear"]) == 2 * (wqkv + out + 4 * (64 + 8)) == 2 * 1568
