"""The dropout on a plain MLP's activation in training (config ``activation_dropout``): transformers 5.25's BART-family
decoder layers (models/bart/modeling_bart.py ``BartDecoderLayer.forward`` and its copies in mbart, plbart, marian,
pegasus, blenderbot, blenderbot_small, bigbird_pegasus, mvp, trocr, xglm) and models/biogpt/modeling_biogpt.py
``BioGptDecoderLayer.forward`` run ``nn.functional.dropout(self.activation_fn(self.fc1(x)), p=self.activation_dropout,
training=self.training)`` before ``fc2``. On CUDA that is ``native_dropout`` (aten/src/ATen/native/Dropout.cpp): a new
output (fc2's input) and a bool mask that autograd keeps for ``native_dropout_backward``. Development cases
(train-sweep-dev.jsonl): TrOCR's decoder with activation_dropout 0.1, GELU full training and ReLU LoRA, and the ReLU
LoRA case without it."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from _simulated import case_errors, records, training_pool_requests
from memfit.sources.hf_config import spec_from_config
from memfit.validate import _predict

TRAIN = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
GELU = "trocr-actdrop-l2/train-bf16-adamw-fused-eager-b3-s800"
RELU = "trocr-actdrop-relu-l2/lora-r8-qv-eager-b2-s900"
RELU_NO_DROP = "trocr-relu-l2/lora-r8-qv-eager-b2-s900"


def _record(case: str) -> dict[str, Any]:
    return next(r for r in records(TRAIN) if r.get("case") == case)


def _without(rec: dict[str, Any]) -> dict[str, Any]:
    return {**rec, "config": {**rec["config"], "activation_dropout": 0.0}}


def test_spec_reads_activation_dropout() -> None:
    """The BART family's reader and BioGPT's (generic path) take ``activation_dropout``; a Llama config has none."""
    rec = _record(GELU)
    assert spec_from_config(rec["config"], "trocr").activation_dropout == 0.1
    biogpt = _record("biogpt-default-l4/train-fp32-adamw-fused-b4-s1024")["config"]
    assert spec_from_config(biogpt, "biogpt").activation_dropout == 0.0  # BioGptConfig's default
    assert spec_from_config({**biogpt, "activation_dropout": 0.2}, "biogpt").activation_dropout == 0.2
    opt = {**biogpt, "model_type": "opt", "activation_dropout": 0.2}  # OPTDecoderLayer drops no activation
    assert spec_from_config(opt, "opt").activation_dropout == 0.0


def test_allocated_adds_the_masks_by_hand() -> None:
    """Two layers' bool masks, b·s·intermediate bytes each, kept to the loss's peak: GELU (its backward reads fc1's
    output, so the activation's output goes once dropped) 2 × 3·800·4,096 = 19,660,800 B; ReLU with fc2 frozen
    (threshold_backward keeps the ReLU's output either way, the frozen fc2 keeps nothing) 2 × 2·900·4,096 =
    14,745,600 B, the simulator's own difference between the two ReLU cases (1,000,449,536 - 985,703,936)."""
    for case, extra in ((GELU, 19_660_800), (RELU, 14_745_600)):
        rec = _record(case)
        with_drop, _t, _w = _predict(rec)
        without, _t, _w = _predict(_without(rec))
        assert with_drop is not None and without is not None
        assert with_drop - without == extra
    assert _record(RELU)["peak_alloc"] - _record(RELU_NO_DROP)["peak_alloc"] == 14_745_600


def test_replay_asks_for_the_mask_and_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training pool's replay (two steps, two layers: 4 dropouts) asks for each dropout's bf16 output
    (3·800·4,096·2 = 19,660,800 B) and its bool mask (9,830,400 B) once each."""
    rec = _record(GELU)
    spec = spec_from_config(rec["config"], "trocr")
    with_drop = training_pool_requests(monkeypatch, spec, rec)
    monkeypatch.undo()  # the next count wraps the allocator afresh
    without: Counter[int] = training_pool_requests(monkeypatch, replace(spec, activation_dropout=0.0), rec)
    assert (with_drop[19_660_800] - without[19_660_800], with_drop[9_830_400] - without[9_830_400]) == (4, 4)


@pytest.mark.parametrize(
    ("case", "allocated", "total"), [(GELU, 0.0001, 0.013), (RELU, 0.010, 0.008), (RELU_NO_DROP, 0.010, 0.007)]
)
def test_development_cases(case: str, allocated: float, total: float) -> None:
    """GELU full training -1.23 % allocated / -2.06 % device total on the code before, now +0.00 % / -1.29 %; ReLU
    LoRA -0.50 % / -1.12 % before, +0.98 % / -1.16 % now (its +0.99 % without the dropout is another, older term:
    the ReLU case without activation dropout is +0.99 % / -1.12 % before and after); the ReLU cases' device totals
    -1.16 / -1.12 -> -0.71 / -0.66 % once the replay frees fc1's output after the ReLU; +0.93 / +0.94 % allocated,
    -0.74 / -0.69 % device total once the cross-attention's LoRA factors train nothing (test_lora_cross_attention)."""
    a, t = case_errors(TRAIN, case)
    assert abs(a) < allocated
    assert abs(t) < total


def _held_intermediates(monkeypatch: pytest.MonkeyPatch, activation: str) -> int:
    """How many b·s·intermediate bf16 tensors (2·900·4,096·2 = 14,745,600 B) the training pool's replay of the ReLU
    LoRA case keeps for backward over its two steps, with ``activation`` in the config."""
    from memfit.memory.allocator_trace import Trace
    from memfit.memory.training.layer_ops import LayerRun

    rec = _record(RELU_NO_DROP)
    spec = spec_from_config({**rec["config"], "activation_function": activation}, "trocr")
    sizes: dict[int, int] = {}
    held: Counter[int] = Counter()
    alloc, hold = Trace.alloc, LayerRun.hold

    def sized(tr: Trace, nbytes: int) -> int:
        key = alloc(tr, nbytes)
        sizes[key] = nbytes
        return key

    def counted(run: LayerRun, tr: Trace, *keys: int) -> None:
        if run.keep:
            held.update(sizes.get(k, 0) for k in keys)
        hold(run, tr, *keys)

    monkeypatch.setattr(Trace, "alloc", sized)
    monkeypatch.setattr(LayerRun, "hold", counted)
    training_pool_requests(monkeypatch, spec, rec)
    monkeypatch.undo()
    return held[14_745_600]


def test_relu_keeps_its_output_not_fc1s(monkeypatch: pytest.MonkeyPatch) -> None:
    """``nn.ReLU``'s backward is ``threshold_backward(grad, result, 0)`` (torch derivatives.yaml ``relu``: its
    result), so fc1's output dies once the ReLU has run (OPTDecoderLayer and the BART-family layers bind it to a name
    they rebind); with fc2 frozen (LoRA on q_proj / v_proj) each layer keeps one intermediate-sized tensor, as with
    GELU (whose backward reads fc1's output instead): 2 layers × 2 steps = 4 in both. The replay kept fc1's output
    beside the ReLU's (8): device total of the ReLU cases -1.12 -> -0.66 % (fails on the old code)."""
    assert (_held_intermediates(monkeypatch, "relu"), _held_intermediates(monkeypatch, "gelu")) == (4, 4)
