"""PEFT's lora_dropout (--lora-dropout): the bytes worked by hand, against what autograd saves in a real PEFT forward,
and the option's checks."""

from __future__ import annotations

from typing import Any

import pytest

from _saved import fused_dropout, layer_saved_bytes
from memfit import estimate
from memfit.errors import ConfigError
from memfit.memory.activations import Precision
from memfit.memory.lora import adapted_kinds
from memfit.memory.lora_dropout import adapter_input_saved
from memfit.memory.model_activations import model_activations
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
# a tiny Llama: hidden 64, 4 heads of 16 (o_proj reads 64), intermediate 160 (down_proj reads 160)
TINY = dict(model_type="llama", hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=128)


def test_one_adapter_input_by_hand() -> None:
    # bf16 input of 64 features: PEFT's fp32 cast 64 x 4 = 256 B; with dropout the dropped fp32 copy (256 B) and
    # the bool mask (64 B) replace it
    assert adapter_input_saved(64, 2, 0.0) == (256, False)
    assert adapter_input_saved(64, 2, 0.1) == (320, False)
    # an fp32 input (QLoRA's fp32 stream) is the adapter's input itself, shared; with dropout its own copy + mask
    assert adapter_input_saved(64, 4, 0.0) == (0, True)
    assert adapter_input_saved(64, 4, 0.05) == (320, False)


def test_one_adapter_input_by_hand_under_autocast() -> None:
    # bf16 autocast over fp32 weights: lora_A's F.linear casts its fp32 input (PEFT's cast, or the dropped copy) to
    # bf16 and keeps that, 64 x 2 = 128 B; the fp32 input is not kept; dropout adds its bool mask, 64 B
    assert adapter_input_saved(64, 4, 0.0, amp=True) == (128, False)
    assert adapter_input_saved(64, 4, 0.1, amp=True) == (192, False)
    assert adapter_input_saved(64, 2, 0.1, amp=True) == (192, False)  # o_proj's bf16 input: PEFT's fp32 copy dies


def _amp(dropout: float, lora: bool) -> Precision:
    spec = spec_from_config(dict(TINY), "llama")
    kinds = adapted_kinds(spec, ALL) if lora else frozenset()
    return Precision(amp=True, weight_bytes=4, resid_bytes=4, full=False, lora_kinds=kinds, lora_rank=4,
                     lora_dropout=dropout, kv_cache=True)


def test_one_amp_layer_by_hand() -> None:
    """fp32 weights under bf16 autocast, every projection adapted (r 4): each adapter keeps lora_A's bf16 input
    (2 B per input feature) and lora_A's bf16 output (2 x 4 = 8 B) per token: q, k, v, gate, up and o read 64,
    down reads 160: 6 x (128 + 8) + (320 + 8) = 1,144 B per token, 64 tokens 73,216 B; dropout adds the masks,
    6 x 64 + 160 = 544 B per token, 34,816 B."""
    spec = spec_from_config(dict(TINY), "llama")
    frozen = model_activations(spec, _amp(0.0, False), 1, 64).layers[0].saved
    off = model_activations(spec, _amp(0.0, True), 1, 64).layers[0].saved
    on = model_activations(spec, _amp(0.1, True), 1, 64).layers[0].saved
    assert off - frozen == 73_216
    assert on - off == 34_816


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_amp_adapter_equals_what_autograd_saves(dropout: float) -> None:
    """One PEFT-adapted Linear (64 -> 32, r 4) under torch.autocast(bf16) on fp32 weights, 8 tokens: what autograd
    keeps apart from weights and their casts equals the adapter's bytes (the base Linear keeps only its weight's
    cast: its frozen weight needs no input). CPU autocast lists F.linear as CUDA's does."""
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")

    class One(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.q_proj = torch.nn.Linear(64, 32, bias=False)

        def forward(self, x: Any) -> Any:
            return self.q_proj(x)

    torch.manual_seed(0)
    model = peft.get_peft_model(One(), peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=dropout,
                                                       target_modules=["q_proj"]))
    model.train()
    saved: list[int] = []

    def pack(t: Any) -> Any:
        if t.dim() == 2 and t.shape[0] == 8:  # per-token tensors (weights and their casts have no 8-row dim)
            saved.append(t.untyped_storage().nbytes())
        return t

    with fused_dropout(), torch.autocast("cpu", dtype=torch.bfloat16), \
            torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(8, 64, requires_grad=True))
    own, shared = adapter_input_saved(64, 4, dropout, amp=True)
    assert not shared
    assert sum(saved) == 8 * (own + 2 * 4)  # + lora_A's bf16 output, kept by lora_B


def _precision(dropout: float, wb: int = 2) -> Precision:
    spec = spec_from_config(dict(TINY), "llama")
    return Precision(amp=False, weight_bytes=wb, resid_bytes=wb, full=False, lora_kinds=adapted_kinds(spec, ALL),
                     lora_rank=4, lora_dropout=dropout, kv_cache=True)


def test_one_layer_by_hand() -> None:
    """bf16 stream, every projection adapted: each adapter adds its mask, 1 B per input feature per token:
    q, k, v, gate, up read 64, o reads 4 x 16 = 64, down reads 160: 6 x 64 + 160 = 544 B per token;
    64 tokens: 34,816 B."""
    spec = spec_from_config(dict(TINY), "llama")
    off = model_activations(spec, _precision(0.0), 1, 64).layers[0].saved
    on = model_activations(spec, _precision(0.1), 1, 64).layers[0].saved
    assert on - off == 34_816


def _saved_per_layer(dropout: float, dtype: str, seq: int = 64) -> int:
    """Bytes autograd saves for one decoder layer of a PEFT model, parameters excluded. CUDA runs F.dropout as the
    fused native_dropout kernel (output + bool mask); the CPU's fallback keeps a noise tensor instead, so dropout is
    routed to native_dropout here as on the GPU."""
    return layer_saved_bytes(TINY, dtype, "sdpa", seq, lora=ALL, lora_dropout=dropout, fused=True)


def test_layer_equals_what_autograd_saves() -> None:
    """bf16 (the CPU's fp32 attention path differs from the H100's kernels, so fp32 is not compared here)."""
    spec = spec_from_config(dict(TINY), "llama")
    predicted = model_activations(spec, _precision(0.1), 1, 64).layers[0].saved
    assert predicted == _saved_per_layer(0.1, "bfloat16")


def test_estimate_adds_the_masks() -> None:
    """Llama-3.2-1B (hidden 2,048, intermediate 8,192, 16 layers), LoRA on every projection, 4 x 1,024 tokens:
    the masks are 16 x 4,096 x (6 x 2,048 + 8,192) B = 1,342,177,280 B of activations; the peak grows with them."""
    base = Workload(mode="lora", batch=4, context=1024)
    off = estimate("llama-3.2-1b", base)
    on = estimate("llama-3.2-1b", Workload(mode="lora", batch=4, context=1024, lora_dropout=0.1))
    assert on.component("activations") - off.component("activations") == 1_342_177_280
    assert on.allocated_bytes > off.allocated_bytes


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5])
def test_bad_dropout_is_one_clear_line(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"lora_dropout = .* must be a number from 0 to below 1"):
        Workload(mode="lora", lora_dropout=bad).validate()
