"""LongCat-Flash (issue 12, l12longcat; development case longcat-flash-default-l2/gen-b1-s2048-new8 in sweep-dev.jsonl,
moved there from the blind sweep by the held-out rule before these fixes landed): its experts are
``expert_ffn_hidden_size`` wide, not ``ffn_hidden_size`` (transformers 5.25 modeling_longcat_flash.py
``LongcatFlashExperts``: ``intermediate_dim = config.expert_ffn_hidden_size``), and its router returns fp32 top-k
weights (``LongcatFlashTopkRouter.forward``: fp32 logits, ``topk_weights.to(router_logits.dtype)``), so the grouped
experts' weighted rows and their re-ordered copy are fp32 (integrations/moe.py ``proj_out * sample_weights_g``)."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.runtimes.transformers_families import FP32_ROUTING
from memfit.sources.hf_config import spec_from_config

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "longcat-flash-default-l2/gen-b1-s2048-new8"


def test_experts_width_is_expert_ffn_hidden_size() -> None:
    config = json.loads(case_line(DEV, CASE))["config"]
    assert (config["ffn_hidden_size"], config["expert_ffn_hidden_size"]) == (12288, 2048)
    (layer,) = spec_from_config(config).layers  # num_layers 1: one LongCat block (two attention sublayers)
    assert layer.moe is not None
    assert (layer.moe.num_experts, layer.moe.top_k, layer.moe.expert_intermediate_size) == (512, 12, 2048)


def test_development_case_within_half_a_percent() -> None:
    # +1.95 % with 12,288-wide experts, -1.39 % with 2,048-wide ones and bf16 routing weights, -0.05 % with fp32 ones
    assert "longcat_flash" in FP32_ROUTING
    row = validate_line(case_line(DEV, CASE))
    assert abs(row.relative_error) < 0.005


def test_lora_development_case_within_one_percent() -> None:
    # LoRA r8 on the default targets, checkpointed (PEFT 0.21.2: the fused experts' 2,048-wide adapters through the
    # qwen2_moe conversion, the dense MLPs frozen): the training replay with the experts' width; +0.50 %
    row = validate_line(case_line(DEV, "longcat-flash-default-l2/lora-r8-default-ckpt-b1-s1024"))
    assert abs(row.relative_error) < 0.01
