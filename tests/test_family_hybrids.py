"""The Mamba hybrids as first-class families (sources/families/hybrid_ssm.py): nemotron_h, granitemoehybrid, bamba,
falcon_h1, jamba, and Mamba-2 under the transformers runtime.

Counts against transformers 5.25 built on the meta device (the default config classes, the real configs of
tests/data/families/hybrid_configs.json and the catalog's Nemotron-H rows); the cache worked out by hand from the
architecture and transformers' cache classes (``LinearAttentionLayer``: ``conv_kernel`` columns of conv state in the
model dtype, the SSM state in fp32); LoRA parameters against PEFT on tiny configs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit import estimate, load_model
from memfit.inventory import count_parameters
from memfit.memory.kv_cache import kv_cache_bytes
from memfit.memory.ssm_activations import mamba2_prefill_bytes
from memfit.sources.hf_config import spec_from_config
from memfit.spec import SSMSpec

HYBRID_FAMILIES = {"nemotron_h", "granitemoehybrid", "bamba", "falcon_h1", "jamba", "kimi_linear", "bailing_hybrid"}
REAL = json.loads((Path(__file__).parent / "data" / "families" / "hybrid_configs.json").read_text())
DEFAULTS = ["NemotronHConfig", "GraniteMoeHybridConfig", "BambaConfig", "FalconH1Config", "JambaConfig",
            "Mamba2Config", "KimiLinearConfig", "BailingHybridConfig"]


def _check(cfg: dict[str, Any], reference: Any = None) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(cfg, reference)


@pytest.mark.parametrize("config_class", DEFAULTS)
def test_default_config_count_is_exact(config_class: str) -> None:
    transformers = pytest.importorskip("transformers")
    conf = getattr(transformers, config_class)()
    _check(conf.to_dict(), conf)
    assert not spec_from_config(conf.to_dict()).is_generic


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_config_count_is_exact(name: str) -> None:
    assert REAL[name]["source"].startswith("https://huggingface.co/")
    _check(dict(REAL[name]["config"]))


def test_real_configs_match_their_published_sizes() -> None:
    # the published totals: Falcon-H1-7B 7.59B, Granite-4.0-H-Small 32B, Bamba-9B 9.78B (model cards)
    totals = {n: count_parameters(spec_from_config(r["config"])).total for n, r in REAL.items()}
    assert round(totals["falcon-h1-7b-instruct"] / 1e9, 2) == 7.59
    assert round(totals["granite-4.0-h-small"] / 1e9) == 32
    assert round(totals["bamba-9b"] / 1e9, 2) == 9.78


@pytest.mark.parametrize("model_id", ["nemotron-h-56b-base-8k", "nemotron-3-nano-30b-a3b"])
def test_catalog_nemotron_counts_are_exact(model_id: str) -> None:
    spec = load_model(model_id)
    assert spec.family == "nemotron_h" and not spec.is_generic
    cfg = json.loads((Path(__file__).parents[1] / "src" / "memfit" / "data" / "models" / f"{model_id}.json")
                     .read_text())
    _check(cfg)


def test_latent_moe_nemotron_goes_generic() -> None:
    # Nemotron 3 Super's latent MoE (fc1/fc2 latent projections) is not described by the builder: the generic path
    assert load_model("nemotron-3-super-120b-a12b-fp8").is_generic


def test_nemotron_h_56b_state_by_hand() -> None:
    spec = load_model("nemotron-h-56b-base-8k")
    # 118 blocks: 54 Mamba-2, 10 attention (8 kv heads × 128), 54 MLP
    attn_row = 2 * 8 * 128 * 2
    conv_dim = 256 * 64 + 2 * 8 * 256  # d_inner (256 heads × 64) + B and C (8 groups × 256)
    # transformers: 4 conv columns in bf16 + the SSM state 256 × 64 × 256 in fp32, per layer and sequence
    state = 4 * conv_dim * 2 + 256 * 64 * 256 * 4
    assert state == 16_941_056
    assert kv_cache_bytes(spec, 8192, 1) == 10 * 8192 * attn_row + 54 * state == 1_250_361_344
    # llama.cpp: 3 conv columns, both states in f32
    assert kv_cache_bytes(spec, 8192, 1, "llamacpp", "f16") == 10 * 8192 * attn_row + 54 * (
        3 * conv_dim * 4 + 256 * 64 * 256 * 4)


def test_hybrid_states_by_hand() -> None:
    falcon = spec_from_config(REAL["falcon-h1-7b-instruct"]["config"])
    # 44 layers, each attention (2 kv heads × 128) and Mamba-2 (24 heads × 128, state 256, conv 3072 + 2 × 256)
    f_state = 4 * (3072 + 2 * 256) * 2 + 24 * 128 * 256 * 4
    assert kv_cache_bytes(falcon, 1000, 2) == 2 * 44 * (1000 * 2 * 2 * 128 * 2 + f_state)
    granite = spec_from_config(REAL["granite-4.0-h-small"]["config"])
    g_state = 4 * (8192 + 2 * 128) * 2 + 128 * 64 * 128 * 4
    assert kv_cache_bytes(granite, 4096, 1) == 4 * 4096 * 2 * 8 * 128 * 2 + 36 * g_state == 220_536_832
    bamba = spec_from_config(REAL["bamba-9b"]["config"])
    assert kv_cache_bytes(bamba, 4096, 1) == 3 * 4096 * 2 * 8 * 128 * 2 + 29 * g_state
    # Jamba v0.1 (the config class's defaults): 4 attention layers of 32, Mamba-1 d_inner 8192, state 16
    transformers = pytest.importorskip("transformers")
    jamba = spec_from_config(transformers.JambaConfig().to_dict())
    j_state = 4 * 8192 * 2 + 8192 * 16 * 4
    assert kv_cache_bytes(jamba, 4096, 1) == 4 * 4096 * 2 * 8 * 128 * 2 + 28 * j_state == 83_623_936


def test_mamba2_prefill_scan_by_hand() -> None:
    # one sequence of 4,096 tokens, 32 heads × 64, state 128, 1 group, chunk 256 (16 chunks), bf16
    ssm = SSMSpec(2048, 128, 4, num_heads=32, head_dim=64, n_groups=1, chunk_size=256)
    chunk2 = 32 * 4096 * 256 * 4  # L, G, M: b·H·S·Q fp32
    bc = 4096 * 32 * 128 * 4  # B, C per head, fp32
    d = 4096 * 2048 * 4  # x·dt, outputs, fp32
    states = 17 * 32 * 64 * 128 * 4  # the 16 chunk states + the final one
    proj, conv = 4096 * (2048 + 2304 + 32) * 2, 4096 * 2304 * 2
    assert mamba2_prefill_bytes(ssm, 1, 4096, 2)[0] == (3 * chunk2 + 3 * bc + 7 * d + states + proj + conv
                                                        + 6 * 4096 * 32 * 4)
    # Nemotron-H-56B's mixer (256 heads × 64, state 256, 8 groups, chunk 128), 2 × 4,096 tokens: the large state
    # puts the peak at the C·states einsum (4 B/C-sized, 4 d-sized, the 32 chunk states twice + the final one)
    big = SSMSpec(16384, 256, 4, num_heads=256, head_dim=64, n_groups=8, chunk_size=128)
    t = 2 * 4096
    chunk2, bc, d = t * 256 * 128 * 4, t * 256 * 256 * 4, t * 16384 * 4
    one = 2 * 256 * 64 * 256 * 4
    end, c_states = 3 * bc + 7 * d + 33 * one, 4 * bc + 4 * d + 65 * one
    assert c_states > end
    proj, conv = t * (16384 + 20480 + 256) * 2, t * 20480 * 2
    assert mamba2_prefill_bytes(big, 2, 4096, 2)[0] == 3 * chunk2 + c_states + proj + conv + 6 * t * 256 * 4


def test_hybrids_estimate_on_every_runtime() -> None:
    for name, row in REAL.items():
        for runtime in ("transformers", "vllm", "llamacpp"):
            est = estimate(row["config"], mode="inference", runtime=runtime, context=4096,
                           **({"gpus": 2, "tp": 2} if runtime == "vllm" else {}))
            assert est.total_bytes > est.components[0].bytes, (name, runtime)
        assert estimate(row["config"], mode="train", context=1024).total_bytes > 0


_TINY: dict[str, dict[str, Any]] = {
    "nemotron_h": dict(hidden_size=64, hybrid_override_pattern="M*-E", num_attention_heads=4, num_key_value_heads=2,
                       head_dim=16, intermediate_size=96, mamba_num_heads=4, mamba_head_dim=32, ssm_state_size=16,
                       n_groups=2, n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                       moe_shared_expert_intermediate_size=48, vocab_size=100),
    "granitemoehybrid": dict(hidden_size=64, num_hidden_layers=2, layer_types=["mamba", "attention"],
                             num_attention_heads=4, num_key_value_heads=2, intermediate_size=32,
                             shared_intermediate_size=48, num_local_experts=4, num_experts_per_tok=2,
                             mamba_n_heads=4, mamba_d_state=16, vocab_size=100),
    "bamba": dict(hidden_size=64, num_hidden_layers=2, attn_layer_indices=[1], num_attention_heads=4,
                  num_key_value_heads=2, intermediate_size=96, mamba_n_heads=4, mamba_d_state=16, vocab_size=100),
    "falcon_h1": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=96, mamba_d_ssm=64, mamba_n_heads=4, mamba_d_state=16, vocab_size=100),
    "jamba": dict(hidden_size=64, num_hidden_layers=4, attn_layer_period=4, attn_layer_offset=2,
                  num_attention_heads=4, num_key_value_heads=2, intermediate_size=96, num_experts=4,
                  mamba_d_state=16, vocab_size=100),
}
_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "in_proj", "out_proj", "x_proj", "dt_proj", "up_proj",
            "down_proj", "gate_proj", "input_linear", "output_linear"]


@pytest.mark.parametrize("model_type", sorted(_TINY))
def test_lora_parameters_equal_peft(model_type: str) -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import lora_parameters

    conf = transformers.AutoConfig.for_model(model_type, **_TINY[model_type])
    model = transformers.AutoModelForCausalLM.from_config(conf)
    present = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                      if isinstance(module, transformers.pytorch_utils.nn.Linear)} & set(_TARGETS))
    if model_type in ("nemotron_h", "falcon_h1"):  # PEFT refuses out_proj on its list of Mamba model types
        present.remove("out_proj")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules=present))
    trainable = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, present) == trainable


def test_kimi_linear_hub_spelling_and_state_by_hand() -> None:
    # a config in the Hub file's spelling (linear_attn_config with 1-indexed layer lists, num_experts, …)
    cfg = {"model_type": "kimi_linear", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
           "num_key_value_heads": 4, "intermediate_size": 512, "moe_intermediate_size": 64, "num_experts": 8,
           "num_experts_per_token": 2, "num_shared_experts": 1, "moe_renormalize": True, "kv_lora_rank": 64,
           "q_lora_rank": None, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16, "v_head_dim": 32,
           "vocab_size": 1000, "pad_token_id": 0, "first_k_dense_replace": 1,
           "linear_attn_config": {"num_heads": 4, "head_dim": 32, "short_conv_kernel_size": 4,
                                  "kda_layers": [1, 2, 3], "full_attn_layers": [4]}}
    _check(cfg)
    spec = spec_from_config(cfg)
    assert [layer.mixer for layer in spec.layers] == ["linear_attention"] * 3 + ["attention"]
    # KDA layers (transformers): 4 conv columns × 3 × 4 heads × 32 in bf16 + the state 4 × 32 × 32 in fp32;
    # the MLA layer caches the latent (64) + the rope key (16) per token
    kda = 4 * 3 * 4 * 32 * 2 + 4 * 32 * 32 * 4
    assert kv_cache_bytes(spec, 1000, 1) == 3 * kda + 1000 * (64 + 16) * 2


def test_kimi_linear_48b_state_by_hand() -> None:
    spec = spec_from_config(REAL["kimi-linear-48b-a3b-instruct"]["config"])
    assert [i for i, layer in enumerate(spec.layers) if layer.attention is not None] == [3, 7, 11, 15, 19, 23, 26]
    # 20 KDA layers: 4 conv columns × 3 × 32 heads × 128 in bf16 + the 32 × 128 × 128 state in fp32;
    # 7 MLA layers: the latent 512 + the rope key 64 per token in bf16
    kda = 4 * 3 * 32 * 128 * 2 + 32 * 128 * 128 * 4
    assert kv_cache_bytes(spec, 32_768, 1) == 20 * kda + 7 * 32_768 * (512 + 64) * 2 == 308_150_272
