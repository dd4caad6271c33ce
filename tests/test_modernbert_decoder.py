"""ModernBERT-decoder (issue 12, l12arch3): found on blind round 5's modernbert-decoder-default-l4 fp32 generate
(-4.03 % allocated, -10.28 % device total), moved to development (tests/data/simulated/sweep-dev.jsonl) before this
was written.

transformers 5.25 ``models/modernbert_decoder/modeling_modernbert_decoder.py``: the generic reader took it for a
llama-shaped model with RMSNorms (its eps field is ``norm_eps``) and separate gate/up projections. The model's norms are
``nn.LayerNorm(hidden, eps=norm_eps, bias=norm_bias)``; ``ModernBertDecoderMLP`` is one ``Wi`` of 2 x intermediate
outputs, chunked, ``Wo(act(input) * gate)``; ``ModernBertDecoderLayer.forward`` binds the attention's output tuple to
``attn_outputs`` until it returns, so that output is alive through the MLP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.inventory import count_parameters
from memfit.memory.runtimes.transformers_families import extra_stream_tensors
from memfit.sources.hf_config import spec_from_config
from memfit.validate import validate_file

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "modernbert-decoder-default-l4/gen-fp32-b2-s1500-new8"
TINY = {"vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "layer_types": ["full_attention", "sliding_attention"], "pad_token_id": 0,
        "bos_token_id": 1, "eos_token_id": 2, "cls_token_id": 1, "sep_token_id": 2}


def _tiny() -> dict[str, object]:
    transformers = pytest.importorskip("transformers")
    return dict(transformers.AutoConfig.for_model("modernbert-decoder", **TINY).to_dict())


def test_modernbert_decoder_spec() -> None:
    spec = spec_from_config(_tiny(), "t")
    assert spec.norm == "layernorm_nobias"  # norm_bias defaults to False
    mlp = spec.layers[0].mlp
    assert mlp is not None and mlp.kind == "gated" and mlp.fused_gate_up and mlp.intermediate_size == 96
    assert mlp.activation == "gelu"
    assert extra_stream_tensors(spec) == 1


def test_modernbert_decoder_parameters_by_hand() -> None:
    """Token table 128·64 and the embeddings' LayerNorm 64; per layer q/k/v/Wo 4·64·64, Wi 64·192, Wo 96·64 (no
    biases); layer 0's attn_norm is nn.Identity, so LayerNorms 64 (layer 0) + 128 (layer 1); final norm 64; the
    prediction head's dense 64·64 and LayerNorm 64; the tied decoder's bias 128."""
    per_layer = 4 * 64 * 64 + 64 * 192 + 96 * 64
    expected = 128 * 64 + 64 + 2 * per_layer + 64 + 128 + 64 + 64 * 64 + 64 + 128
    assert expected == 82_432
    assert count_parameters(spec_from_config(_tiny(), "t")).total == expected
    rec = next(json.loads(line) for line in DEV.read_text().splitlines() if CASE in line)
    assert rec["n_params"] == count_parameters(spec_from_config(rec["config"], "t")).total == 59_384_512


def test_modernbert_decoder_generate_within_half_a_percent() -> None:
    """The development case against the simulated allocated peak (451,620,352 B): within 0.5 % (was -4.03 %)."""
    rows, _ = validate_file(DEV)
    err = next(r.relative_error for r in rows if r.case == CASE)
    assert err is not None and abs(err) < 0.005
