"""Weight bytes in bf16 for every family memfit builds, against transformers' own bf16 build on the meta device as
``from_pretrained`` loads it (tests/_simulated.py ``meta_bf16_build``: the modules built in float32 and those the
model's ``_keep_in_fp32_modules_strict`` names stay float32). Parameter counts are checked elsewhere
(tests/test_families.py, tests/test_hf_config.py); this checks the bytes, i.e. data/fp32_parameters.toml.

The families: every first-class builder (``SUPPORTED_FAMILIES``), every model type with a row in the data file, and
every model type whose transformers modelling code sets ``_keep_in_fp32_modules_strict`` (found by reading the
installed transformers' source, so a new family with fp32 modules is not missed), each from its default config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _simulated import meta_bf16_build
from memfit.errors import MemfitError
from memfit.memory.fp32_parameters import fp32_kept, fp32_modules
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import SUPPORTED_FAMILIES, spec_from_config

# keyword arguments a default config needs before transformers (or memfit) can build it at all
KWARGS: dict[str, dict[str, Any]] = {
    "hunyuan_v1_moe": {"head_dim": 128},  # its default head_dim is None, which the attention cannot use
    "deepseek_v2": {"num_experts_per_tok": 6},  # its default top-k is null, which memfit rejects
    "dbrx": {"attn_config": {"rope_theta": 10000.0}},  # DbrxConfig() lacks the rope_theta its attention reads
    # Dots1Config() leaves the experts null: dots.llm1's values, 4 layers
    "dots1": {"n_routed_experts": 128, "num_experts_per_tok": 8, "n_shared_experts": 2, "first_k_dense_replace": 1,
              "num_hidden_layers": 4},
}
SKIP: dict[str, str] = {
    "deepseek": "transformers 5.25 has no model type deepseek (memfit's builder reads the remote-code DeepSeek-MoE "
                "configs)",
    "gemma3n": "its multimodal class builds a timm tower and timm is not installed",
    "glm5_next": "its default config is NoPE (qk_rope_head_dim 0), which memfit refuses, and transformers refuses a "
                 "rope dimension in it",
}


def _strict_model_types() -> set[str]:
    """Model types whose modelling file in the installed transformers sets ``_keep_in_fp32_modules_strict``."""
    transformers = pytest.importorskip("transformers")
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES, model_type_to_module_name

    models = Path(transformers.__file__).parent / "models"
    strict = {path.parent.name for path in models.glob("*/modeling_*.py")
              if "_keep_in_fp32_modules_strict = " in path.read_text(encoding="utf-8")}
    return {mt for mt in CONFIG_MAPPING_NAMES if model_type_to_module_name(mt) in strict}


def _families() -> list[Any]:
    try:
        strict = _strict_model_types()
    except pytest.skip.Exception:
        strict = set()
    return sorted(set(SUPPORTED_FAMILIES) | set(fp32_modules()) | strict)


@pytest.mark.parametrize("model_type", _families())
def test_bf16_bytes_equal_transformers_load(model_type: str) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    if model_type in SKIP:
        pytest.skip(SKIP[model_type])
    conf = transformers.CONFIG_MAPPING[model_type](**KWARGS.get(model_type, {}))
    try:
        expect = meta_bf16_build(conf)
    except Exception as e:
        if model_type in SUPPORTED_FAMILIES or model_type in fp32_modules():
            raise
        if "Unrecognized configuration class" in str(e):  # memfit's generic path builds the same classes
            pytest.skip(f"transformers builds no causal LM for {model_type}, so memfit does not build it")
        pytest.skip(f"{model_type}'s default config does not build in transformers: {type(e).__name__}")
    try:
        spec = spec_from_config(conf.to_dict(), model_type)
    except MemfitError as e:
        assert model_type not in SUPPORTED_FAMILIES and model_type not in fp32_modules(), e
        pytest.skip(f"memfit does not build {model_type}'s default config: {e}")
    w = weights_breakdown(spec, "bfloat16")
    assert (w.parameters, w.total_bytes) == expect


def test_strict_lists_found() -> None:
    # the discovery reads the source: DeepSeek-V3 and GLM-4-MoE set the attribute, Llama does not
    strict = _strict_model_types()
    assert {"deepseek_v3", "glm4_moe", "ergo", "flint"} <= strict
    assert "llama" not in strict


def test_transformers_matching_rule() -> None:
    # core_model_loading.py build_glob_alternation: an entry is a regex searched anywhere in the name, its dots
    # unescaped (so "gate.weight" also finds "mlp.gate.weight", never "gate_proj.weight")
    assert fp32_kept("deepseek_v3", "model.layers.3.mlp.gate.weight")
    assert fp32_kept("deepseek_v3", "model.layers.3.mlp.gate.e_score_correction_bias")
    assert not fp32_kept("deepseek_v3", "model.layers.3.mlp.shared_experts.gate_proj.weight")
    assert fp32_kept("xlnet", "transformer.layer.0.rel_attn.r_w_bias")
    assert not fp32_kept("xlnet", "transformer.layer.0.rel_attn.layer_norm.weight")


def test_deepseek_v3_router_bytes_by_hand() -> None:
    # DeepSeek-V3 default config: 61 layers, the first 3 dense, so 58 routers of 256 experts × 7,168, float32
    # (DeepseekV3PreTrainedModel._keep_in_fp32_modules_strict "gate.weight"; its e_score_correction_bias is a buffer,
    # not a parameter): 58 · 256 · 7,168 = 106,430,464 parameters at 4 bytes, 2 more each than bf16
    transformers = pytest.importorskip("transformers")
    spec = spec_from_config(transformers.CONFIG_MAPPING["deepseek_v3"]().to_dict())
    w = weights_breakdown(spec, "bfloat16")
    assert w.params_by_type["F32"] == 106_430_464
    assert w.total_bytes - 2 * w.parameters == 212_860_928
