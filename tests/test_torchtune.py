"""torchtune's own Llama in a full fine-tune (``--trainer torchtune``, memory/torchtune.py): K and V copied to every
query head before the kernel, the packed batch's gathered float32 RoPE caches, the model's own ``.float()`` of the
logits. Hand-worked on Llama 3.2 3B (published-frameworks-dev.jsonl's torchtune row): 28 layers, 24 heads, 8 K/V
heads, head 128, hidden 3072, vocabulary 128,256, bf16, batch 2 × 4,096 tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.errors import ConfigError
from memfit.memory.model_activations import model_activations
from memfit.memory.torchtune import torchtune_token_extra
from memfit.memory.training import estimate_training
from memfit.memory.training.states import training_precision
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

DEV = Path(__file__).parent / "data" / "groundtruth" / "published-frameworks-dev.jsonl"
ROW = next(r for r in map(json.loads, DEV.read_text().splitlines()) if "torchtune" in r.get("case", ""))
SPEC = spec_from_config(ROW["config"], "llama-3.2-3b")
T = 2 * 4096


def _wl(trainer: str) -> Workload:
    return Workload(
        mode="train",
        batch=2,
        context=4096,
        optimizer="adamw-foreach",
        mixed_precision=False,
        dtype="bfloat16",
        attn="flash",
        trainer=trainer,
    ).validate()


def test_token_extra() -> None:
    # K and V from 8 to 24 heads of 128 in bf16: (24 - 8) x (128 + 128) x 2 = 8,192 B per token; packed: the two
    # float32 (d/2, 2) RoPE caches gathered at input_pos, 2 x 128 x 4 = 1,024 B
    assert torchtune_token_extra(24, 8, 128, 128, 2, packed=True) == 9_216
    assert torchtune_token_extra(24, 8, 128, 128, 2, packed=False) == 8_192
    assert torchtune_token_extra(32, 32, 128, 128, 2, packed=False) == 0  # no grouped K/V: no copy
    assert torchtune_token_extra(32, 32, 128, 128, 2, packed=True) == 1_024


def test_the_published_row_by_hand() -> None:
    """The transformers step's peak (backward at the loss) plus 28 layers x 8,192 tokens x 9,216 B = 2,113,929,216
    (unpacked: 28 x 8,192 x 8,192 = 1,879,048,192) and the fp32 RoPE table, 131,072 x 128 x 4 = 67,108,864."""
    hf = estimate_training(SPEC, _wl("transformers")).allocated_bytes
    assert hf == 62_241_802_240
    packed = estimate_training(SPEC, _wl("torchtune-packed")).allocated_bytes
    assert packed == hf + 2_113_929_216 + 67_108_864 == 64_422_840_320
    assert estimate_training(SPEC, _wl("torchtune")).allocated_bytes == hf + 1_879_048_192 + 67_108_864


def test_the_estimate_says_which_model_code() -> None:
    notes = estimate_training(SPEC, _wl("torchtune-packed")).notes
    assert any(n.startswith("--trainer torchtune-packed: torchtune's own Llama") for n in notes)
    assert not any("torchtune" in n for n in estimate_training(SPEC, _wl("transformers")).notes)


def test_the_model_float_frees_the_bf16_logits() -> None:
    """TransformerDecoder returns self.output(h).float(): at the loss the fp32 logits are alive, the bf16 ones not
    (transformers 5's loss upcasts inside the loss, both alive): 2 x 8,192 x 128,256 B = 2,101,346,304 less."""
    hf = model_activations(SPEC, training_precision(SPEC, _wl("transformers")), 2, 4096)
    tt = model_activations(SPEC, training_precision(SPEC, _wl("torchtune")), 2, 4096)
    assert hf.loss_forward_extra - tt.loss_forward_extra == 2 * T * 128_256 == 2_101_346_304
    assert tt.loss_saved == hf.loss_saved and tt.loss_backward_extra == hf.loss_backward_extra


def test_only_the_llama_family() -> None:
    config = dict(ROW["config"], model_type="mistral", architectures=["MistralForCausalLM"])
    with pytest.raises(ConfigError, match="Llama family only"):
        estimate_training(spec_from_config(config, "m"), _wl("torchtune"))
