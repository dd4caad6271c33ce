"""GLM's and GLM-4's MLP (issue 12, l12train2): transformers 5.25 modeling_glm.py GlmMLP and modeling_glm4.py Glm4MLP
run one ``gate_up_proj`` Linear of 2 x intermediate outputs and ``chunk(2, dim=-1)`` it, so under autocast its
weight is cast as one tensor. Found on the development case glm-default-l2 autocast checkpointed
(tests/data/simulated/train-sweep-dev.jsonl, device total -6.67 %), moved there from the blind training sweep."""

from __future__ import annotations

import pytest

from memfit.inventory import inventory
from memfit.sources.hf_config import spec_from_config

CFG = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 4,
       "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 1000, "hidden_act": "silu",
       "max_position_embeddings": 4096}


@pytest.mark.parametrize("model_type", ["glm", "glm4"])
def test_glm_gate_and_up_are_one_linear(model_type: str) -> None:
    spec = spec_from_config({**CFG, "model_type": model_type}, f"{model_type}-tiny")
    mlp = spec.layers[0].mlp
    assert mlp is not None and mlp.kind == "gated" and mlp.fused_gate_up
    ffn = {t.kind: t.numel for t in inventory(spec) if t.layer == 0 and t.kind in ("ffn_gate", "ffn_up", "ffn_down")}
    assert ffn == {"ffn_up": 2 * 1024 * 256, "ffn_down": 1024 * 256}  # one gate_up tensor, then down


def test_llama_keeps_gate_and_up_apart() -> None:
    mlp = spec_from_config({**CFG, "model_type": "llama"}, "llama-tiny").layers[0].mlp
    assert mlp is not None and not mlp.fused_gate_up
