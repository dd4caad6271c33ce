"""The training pool's eager attention with dropout on the probabilities (training/layer_stream.py ``_scores``):
transformers 5.25 eager_attention_forward (models/roberta/modeling_roberta.py, models/gpt2/modeling_gpt2.py, ...)
runs ``nn.functional.dropout(attn_weights, p=dropout, training=self.training)`` before the product with V; torch's
native_dropout returns its output (kept by that product for V's gradient) and a bool mask (kept by its backward).
The development case xlm-roberta-default-l2/train-fp32-sgd-eager-b2-s400 (train-sweep-dev.jsonl): fp32, 2
sequences of 400 tokens, 12 heads, 2 layers, attention_probs_dropout_prob 0.1; two steps replayed."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from _simulated import training_pool_requests
from memfit.sources.hf_config import spec_from_config

DATA = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
XLMR = "xlm-roberta-default-l2/train-fp32-sgd-eager-b2-s400"
SCORES = 2 * 12 * 400 * 400  # b·heads·s² = 3,840,000 scores per layer


def _asked(monkeypatch: pytest.MonkeyPatch, dropout: float | None = None) -> Counter[int]:
    rec = next(json.loads(line) for line in DATA.read_text().splitlines() if f'"case": "{XLMR}"' in line)
    spec = spec_from_config(rec["config"], str(rec["model"]))
    if dropout is not None:
        spec = replace(spec, attention_dropout=dropout)
    return training_pool_requests(monkeypatch, spec, rec)


def test_dropout_output_and_mask_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bool mask, 3,840,000 B, once per layer and step: 2 × 2 = 4 (0 before). fp32 score-sized tensors
    (15,360,000 B): per layer and step the forward's scores, × scaling, the masked scores, the softmax and now
    dropout's output (5), the backward's two score gradients (2): 7 × 2 × 2 = 28 (24 before)."""
    asked = _asked(monkeypatch)
    assert asked[SCORES] == 4
    assert asked[SCORES * 4] == 28


def test_no_dropout_no_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """attention_probs_dropout_prob 0: F.dropout is not run on the probabilities' memory (ATen's dropout returns its
    input at p = 0): no mask, 6 × 2 × 2 = 24 score-sized tensors."""
    asked = _asked(monkeypatch, 0.0)
    assert asked[SCORES] == 0
    assert asked[SCORES * 4] == 24
