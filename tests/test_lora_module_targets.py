"""LoRA targets are the model's own module names (issue 12, l12arch3): PEFT matches ``target_modules`` against every
module's name by suffix (peft ``tuners/tuners_utils.py`` ``check_target_module_exists``), so any nn.Linear of the
model is a valid target, not only the projection names memfit knows. ModernBERT-decoder (transformers 5.25
``models/modernbert_decoder/modeling_modernbert_decoder.py``) names its fused gate/up ``mlp.Wi`` (hidden -> 2 x
intermediate), its MLP output ``mlp.Wo`` and its attention output ``attn.Wo``; memfit refused ``Wi`` / ``Wo``
("not a known projection name") before."""

from __future__ import annotations

import pytest

from memfit.errors import ConfigError
from memfit.memory.lora import adapted_tensors, lora_parameters
from memfit.sources.hf_config import spec_from_config

TINY = {"vocab_size": 128, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
        "num_attention_heads": 4, "layer_types": ["full_attention", "sliding_attention"], "pad_token_id": 0,
        "bos_token_id": 1, "eos_token_id": 2, "cls_token_id": 1, "sep_token_id": 2}


def _spec():  # type: ignore[no-untyped-def]
    """transformers 5.25's default ModernBertDecoderConfig made tiny: the generic path builds it on the meta device,
    so the inventory's names are the model's own."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.AutoConfig.for_model("modernbert-decoder", **TINY).to_dict()
    return spec_from_config(cfg, "t")


def test_module_names_of_the_model_are_targets() -> None:
    """r = 8 on Wi and Wo: per layer Wi Linear(64, 192) 8·(64 + 192) = 2,048, attn.Wo Linear(64, 64) 8·128 = 1,024,
    mlp.Wo Linear(96, 64) 8·160 = 1,280 (``Wo`` matches both, as PEFT's suffix match does): 4,352; two layers 8,704."""
    spec = _spec()
    names = sorted(t.name for t in adapted_tensors(spec, ["Wi", "Wo"]))
    assert names == [f"model.layers.{i}.{m}.weight" for i in (0, 1) for m in ("attn.Wo", "mlp.Wi", "mlp.Wo")]
    assert lora_parameters(spec, 8, ["Wi", "Wo"]) == 2 * (8 * (64 + 192) + 8 * (64 + 64) + 8 * (96 + 64)) == 8704


def test_known_names_and_module_names_together() -> None:
    """q/k/v (known names) and Wi (the model's own): per layer 3 · 8·128 + 2,048 = 5,120; two layers 10,240."""
    assert lora_parameters(_spec(), 8, ["q_proj", "k_proj", "v_proj", "Wi"]) == 2 * (3 * 8 * 128 + 8 * 256) == 10240


def test_a_name_no_module_has_is_refused() -> None:
    """PEFT raises for a target no module has; so does memfit (and module names are matched case as written)."""
    spec = _spec()
    with pytest.raises(ConfigError, match="nor a Linear module"):
        adapted_tensors(spec, ["q_proj", "Wx"])
    with pytest.raises(ConfigError, match="nor a Linear module"):
        adapted_tensors(spec, ["WI"])
