"""GLM-4.7-Flash (transformers 5.25 ``glm4_moe_lite``, issue 12 l12fresh): DeepSeek-V3's MLA and MoE under another
name (its attention, router and experts are DeepSeek-V3's line for line), dense or sparse per ``mlp_layer_types``.
The generic path read it as a plain MoE (bf16 routing, no group routing); found on the fresh blind glm-4.7-flash
generate (allocated -3.72 %), moved to development (tests/data/simulated/fresh-dev.jsonl) before this was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.runtimes.transformers_families import FP32_ROUTING
from memfit.memory.runtimes.transformers_pool_blocks import GROUP_ROUTED
from memfit.sources.hf_config import spec_from_config

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {"glm4_moe_lite"}  # checked against transformers here (test_parameter_count_equals_the_meta_model)


def _small() -> dict[str, object]:
    cfg: dict[str, object] = json.loads((REPO / "src/memfit/data/models/glm-4.7-flash.json").read_text())
    cfg.update(num_hidden_layers=3, mlp_layer_types=["dense", "sparse", "sparse"], n_routed_experts=8)
    cfg.pop("quantization_config", None)
    return cfg


def test_layers_follow_mlp_layer_types_with_mla() -> None:
    spec = spec_from_config(_small(), "glm-4.7-flash-l3")
    assert spec.family == "glm4_moe_lite"
    assert [layer.moe is not None for layer in spec.layers] == [False, True, True]
    att = spec.layers[0].attention
    assert att is not None and att.kind == "mla" and att.kv_lora_rank == 512 and att.q_lora_rank == 768
    moe = spec.layers[1].moe
    assert moe is not None and moe.score_correction_bias and moe.num_shared_experts == 1 and moe.top_k == 4
    assert "glm4_moe_lite" in FP32_ROUTING and "glm4_moe_lite" in GROUP_ROUTED


def test_parameter_count_equals_the_meta_model() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(_small())
