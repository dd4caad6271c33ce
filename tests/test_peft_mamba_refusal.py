"""PEFT refuses a LoRA on a module named out_proj or conv1d of its Mamba model types (peft 0.21 tuners/tuners_utils.py
``_check_lora_target_modules_mamba``: falcon_h1, mamba, mamba2, falcon_mamba, nemotron_h; ``all-linear`` resolves to
the mixers' out_proj among the rest): memfit raises the same refusal as a clear error instead of pricing it."""

from __future__ import annotations

from typing import Any

import pytest

from memfit.errors import ConfigError
from memfit.memory.lora import adapted_tensors, lora_parameters
from memfit.sources.hf_config import spec_from_config

PEFT_MAMBA = ["falcon_h1", "mamba", "mamba2", "falcon_mamba", "nemotron_h"]
# a tiny Mamba-1 model: 2 layers, hidden 64, inner 128, state 16, dt rank 4, vocabulary 100
TINY_MAMBA: dict[str, Any] = dict(model_type="mamba", vocab_size=100, hidden_size=64, num_hidden_layers=2,
                                  intermediate_size=128, state_size=16, time_step_rank=4, conv_kernel=4)


def _default(model_type: str) -> Any:
    transformers = pytest.importorskip("transformers")
    return spec_from_config(transformers.CONFIG_MAPPING[model_type]().to_dict())


@pytest.mark.parametrize("model_type", PEFT_MAMBA)
def test_all_linear_refused_as_peft_does(model_type: str) -> None:
    with pytest.raises(ConfigError) as e:
        adapted_tensors(_default(model_type), ["all-linear"])
    msg = str(e.value)
    assert "all-linear" in msg and "out_proj" in msg and model_type in msg  # the value and the rule
    assert "_check_lora_target_modules_mamba" in msg
    fix = msg.rsplit("--lora-targets ", 1)[1].split(",")  # the fix: the model's other Linears
    assert "in_proj" in fix and "out_proj" not in fix and "conv1d" not in fix


@pytest.mark.parametrize("targets", [["out_proj"], ["in_proj", "out_proj"]])
def test_out_proj_named_refused(targets: list[str]) -> None:
    with pytest.raises(ConfigError, match="PEFT refuses"):
        lora_parameters(spec_from_config(dict(TINY_MAMBA)), 8, targets)


def test_the_offered_fix_prices() -> None:
    # in_proj (64 -> 256), x_proj (128 -> 4 + 2·16 = 36), dt_proj (4 -> 128) per layer at r 8:
    # 8·(64 + 256) + 8·(128 + 36) + 8·(4 + 128) = 2,560 + 1,312 + 1,056 = 4,928; × 2 layers = 9,856
    spec = spec_from_config(dict(TINY_MAMBA))
    assert lora_parameters(spec, 8, ["dt_proj", "in_proj", "x_proj"]) == 9_856


def test_peft_itself_refuses_and_accepts_the_fix() -> None:
    pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    from _meta_oracle import build_meta

    with pytest.raises(ValueError, match="incompatible with Mamba"):
        peft.get_peft_model(build_meta(dict(TINY_MAMBA)), peft.LoraConfig(r=8, target_modules="all-linear"),
                            low_cpu_mem_usage=True)
    wrapped = peft.get_peft_model(build_meta(dict(TINY_MAMBA)),
                                  peft.LoraConfig(r=8, target_modules=["dt_proj", "in_proj", "x_proj"]),
                                  low_cpu_mem_usage=True)
    assert sum(p.numel() for p in wrapped.parameters() if p.requires_grad) == 9_856


@pytest.mark.parametrize("model_type", ["jamba", "bamba", "granitemoehybrid"])
def test_other_mamba_hybrids_still_priced(model_type: str) -> None:
    # PEFT's rule names five model types only: the other hybrids' out_proj take an adapter
    assert any(t.name.endswith("out_proj.weight") for t in adapted_tensors(_default(model_type), ["all-linear"]))
