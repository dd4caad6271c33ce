"""--transformers-version (the loss of transformers releases before 4.49) and --qlora-prep trl: the bytes worked by
hand, the loss's live tensors counted in real torch ops written the way each release writes its loss, and the
options' checks."""

from __future__ import annotations

import weakref
from typing import Any

import pytest

from memfit import estimate
from memfit.errors import ConfigError
from memfit.memory.activations import Precision
from memfit.memory.loss_release import loss_release
from memfit.memory.model_activations import model_activations
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

# a tiny Llama: hidden 64, vocabulary 256
TINY = dict(model_type="llama", hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256, max_position_embeddings=128)


def test_releases() -> None:
    for new in (None, "4.49.0", "5.0", "5.25.0"):
        r = loss_release(new)
        assert not r.shift_copy and not r.model_float
    r = loss_release("4.48.1")
    assert r.shift_copy and not r.model_float
    assert loss_release("4.46.0").shift_copy and not loss_release("4.46.0").model_float
    r = loss_release("4.45.2")
    assert r.shift_copy and r.model_float
    assert loss_release("4.40.0").model_float
    for bad in ("4.39.3", "3.0", "latest", "4"):
        with pytest.raises(ConfigError, match="transformers_version"):
            loss_release(bad)


def _extra(version: str | None, amp: bool = False, wb: int = 2, batch: int = 2) -> int:
    spec = spec_from_config(dict(TINY), "llama")
    rel = loss_release(version)
    p = Precision(amp=amp, weight_bytes=wb, resid_bytes=wb, full=False, loss_shift_copy=rel.shift_copy,
                  model_float_logits=rel.model_float)
    a = model_activations(spec, p, batch, 8)
    return a.loss_saved + a.loss_forward_extra


def test_loss_bytes_by_hand() -> None:
    """b 2, s 8, h 64, V 256 (T·V = 4,096), bf16 logits, with the final norm's bf16 output (16 × 64 × 2 = 2,048)
    alive at the loss. 4.49 and later: bf16 logits 8,192 + their fp32 copy 16,384 + log-softmax over all 16 rows
    16,384 = 40,960 (+ 2,048); 4.46–4.48: + the shifted fp32 copy of 2 × 7 rows, 14,336, and log-softmax over those
    14 rows, 14,336 (−2,048) = 53,248 (+ 2,048); before 4.46 the model's .float() frees the bf16 logits first:
    16,384 + 14,336 + 14,336 = 45,056 (+ 2,048)."""
    assert _extra(None) == 40_960 + 2_048
    assert _extra("4.48.1") == 53_248 + 2_048
    assert _extra("4.45.2") == 45_056 + 2_048
    # fp32 logits (an fp32 model, its final norm's output 4,096): .float() is a no-op in every release:
    # 16,384 + 16,384 from 4.49, 16,384 + 14,336 + 14,336 before
    assert _extra(None, wb=4) == 32_768 + 4_096
    assert _extra("4.48.1", wb=4) == _extra("4.45.2", wb=4) == 45_056 + 4_096


class _Live:
    """The bytes of tensors torch ops create while it runs, each counted until its storage is freed, and the peak."""

    def __init__(self) -> None:
        self.live = self.peak = 0
        self.seen: set[int] = set()

    def count(self, out: Any) -> None:
        import torch

        for t in out if isinstance(out, (tuple, list)) else (out,):
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            if st.data_ptr() in self.seen or st.nbytes() == 0 or not t.is_floating_point():
                continue
            self.seen.add(st.data_ptr())
            self.live += st.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(st, self._free, st.data_ptr(), st.nbytes())

    def _free(self, ptr: int, n: int) -> None:
        self.seen.discard(ptr)
        self.live -= n


def _loss_peak(release: str, batch: int = 2) -> int:
    """Peak bytes of the tensors the head and loss make (b 2, s 8, h 64, V 256, bf16), written as each release
    writes them: 5.x / 4.49 ``ForCausalLMLoss`` (fp32 upcast, labels padded), 4.46–4.48 (fp32 upcast, shifted
    contiguous logits), 4.45 (the model's own ``lm_head(...).float()``, then the shifted copy)."""
    import torch
    import torch.nn.functional as F
    from torch.utils._python_dispatch import TorchDispatchMode

    live = _Live()

    class Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            live.count(out)
            return out

    torch.manual_seed(0)
    hidden = torch.randn(batch, 8, 64, dtype=torch.bfloat16)
    w = torch.randn(256, 64, dtype=torch.bfloat16, requires_grad=True)
    labels = torch.randint(0, 256, (batch, 8))
    with Mode():
        if release == "4.45":
            lf = F.linear(hidden, w).float()
            loss = F.cross_entropy(lf[..., :-1, :].contiguous().view(-1, 256), labels[..., 1:].reshape(-1))
        else:
            logits = F.linear(hidden, w)
            lf = logits.float()
            if release == "4.48":
                sl = lf[..., :-1, :].contiguous()
                loss = F.cross_entropy(sl.view(-1, 256), labels[..., 1:].reshape(-1))
            else:
                padded = F.pad(labels, (0, 1), value=-100)[..., 1:].reshape(-1)
                loss = F.cross_entropy(lf.view(-1, 256), padded)
    assert loss.requires_grad
    return live.peak


def test_loss_peaks_of_real_ops_differ_as_priced() -> None:
    """The releases' losses run on CPU: their floating-point tensors' peaks differ by exactly what memfit prices
    (the int64 label copies are memfit's ``outside`` bytes; the scalar loss and its weight are in every release)."""
    pytest.importorskip("torch")
    base = _loss_peak("5")
    assert _loss_peak("4.48") - base == _extra("4.48.1") - _extra(None)
    assert _loss_peak("4.45") - base == _extra("4.45.2") - _extra(None)


def test_a_batch_of_one_makes_no_shifted_copy() -> None:
    """b 1, s 8 (T·V = 2,048): logits[..., :-1, :] of a (1, 8, V) tensor is already contiguous (size-1 dimensions do
    not count), so 4.46–4.48's .contiguous() returns it: bf16 logits 4,096 + fp32 copy 8,192 + log-softmax over the 7
    shifted rows 7,168 = 19,456, + the final norm's output 1,024; the real ops agree."""
    assert _extra("4.48.1", batch=1) == 19_456 + 1_024
    pytest.importorskip("torch")
    assert _loss_peak("4.48", batch=1) - _loss_peak("5", batch=1) == _extra("4.48.1", batch=1) - _extra(None, batch=1)


def test_estimate_prices_the_release_and_says_so() -> None:
    kw: dict[str, Any] = dict(mode="lora", batch=4, context=4096, checkpointing="full",
                              lora_targets=("q_proj", "v_proj"))
    new = estimate("mistral-7b-v0.3", Workload(**kw))
    old = estimate("mistral-7b-v0.3", Workload(**kw, transformers_version="4.48.1"))
    assert old.details["peak_phase"] == "forward (loss)"
    assert old.allocated_bytes is not None and new.allocated_bytes is not None
    assert old.allocated_bytes > new.allocated_bytes
    assert any("shifted logits" in n for n in old.notes)
    assert not any("shifted logits" in n for n in new.notes)


def test_trl_qlora_prep_by_hand() -> None:
    """trl's bf16 casts: Mistral-7B's embedding and lm_head, 2 × 32,768 × 4,096 = 268,435,456 parameters, at 2 B
    instead of 4 (−536,870,912 B of weights); the first layer's checkpointed input in bf16: 4 × 4,096 tokens ×
    4,096 × 2 B less (−134,217,728 B) at the forward's loss."""
    kw: dict[str, Any] = dict(mode="qlora", batch=4, context=4096, checkpointing="full",
                              lora_targets=("q_proj", "v_proj"))
    peft = estimate("mistral-7b-v0.3", Workload(**kw))
    trl = estimate("mistral-7b-v0.3", Workload(**kw, qlora_prep="trl"))
    w = {c.name: c.bytes for c in peft.components}["weights"] - {c.name: c.bytes for c in trl.components}["weights"]
    assert w == 536_870_912
    peft_loss = peft.details["phases"]["forward (loss)"]
    assert peft_loss - trl.details["phases"]["forward (loss)"] == 134_217_728


def test_bad_release_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"4\.40 or later"):
        estimate("mistral-7b-v0.3", Workload(mode="lora", transformers_version="4.30.0"))


def test_trl_prep_needs_a_quantized_base() -> None:
    with pytest.raises(ConfigError, match="not quantized"):
        Workload(mode="lora", qlora_prep="trl").validate()
    Workload(mode="qlora", qlora_prep="trl").validate()
    Workload(mode="lora", quant="nf4-dq", qlora_prep="trl").validate()
