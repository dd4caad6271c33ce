"""PEFT's ``lora_dropout``: what an adapted Linear's dropout keeps for backward, and what it allocates.

PEFT's ``LoraLayer.update_layer`` builds ``nn.Dropout(p)`` when ``lora_dropout > 0`` and ``nn.Identity`` otherwise
(peft/tuners/lora/layer.py); ``Linear.forward`` casts the input to the adapter's dtype (``_cast_input_dtype``: fp32
adapters, ``autocast_adapter_dtype``) and computes ``lora_B(lora_A(dropout(x))) * scaling``. Each adapted Linear has
its own dropout module, so q, k and v each drop their own copy of the input.

In training on CUDA, ``F.dropout`` runs the fused ``native_dropout`` kernel (aten/src/ATen/native/Dropout.cpp,
``is_fused_kernel_acceptable``: a CUDA tensor and ``0 < p < 1``): it returns the dropped output (the input's dtype)
and a ``bool`` mask, and autograd keeps only the mask for ``native_dropout_backward`` (derivatives.yaml:
``grad * mask * scale``). ``lora_A`` then keeps its input, the dropped copy, instead of the cast input. So per token
and adapted Linear of input width ``w``:

* without dropout: the fp32 cast input ``4·w`` (or, when the input already is fp32, that input itself, shared);
* with dropout: the dropped fp32 copy ``4·w`` plus the mask ``1·w``, and the cast input is no longer kept (it dies
  when the adapter's forward returns);
* in backward, ``native_dropout_backward`` makes one more ``4·w`` gradient from lora_A's input gradient.

Under gradient checkpointing the dropout reruns in the recompute (with the saved RNG state), so it adds to the
recomputed layer the same way. Dropout is not autocast-listed: its output keeps the cast input's dtype.

Under ``torch.autocast`` (bf16 over fp32 weights), ``lora_A``'s ``F.linear`` is autocast-listed: it casts its fp32
input (the dropped copy, or the cast input) to bf16 and autograd keeps that bf16 copy, not the fp32 one (the cast's
``_to_copy`` backward keeps nothing). So per token: ``2·w`` (plus the ``1·w`` mask with dropout), and the fp32
input, dropped copy or not, dies when the adapter's forward returns. lora_A's and lora_B's outputs are bf16.
"""

from __future__ import annotations

from .allocator_trace import Trace

__all__ = ["MASK_BYTES", "adapter_input_saved", "dropout_backward", "dropout_forward"]

MASK_BYTES = 1  # native_dropout's mask: torch.bool
ADAPTER_BYTES = 4  # PEFT keeps adapters in fp32 (autocast_adapter_dtype) and casts their input to it
AMP_BYTES = 2  # autocast's bf16: lora_A's cast input and both adapter outputs under torch.autocast


def adapter_input_saved(width: int, in_bytes: int, dropout: float, amp: bool = False,
                        adapter: int = ADAPTER_BYTES) -> tuple[int, bool]:
    """(bytes per token this adapter's input path keeps on its own, whether it keeps the shared input itself) for
    one adapted Linear reading ``width`` features of ``in_bytes`` each; ``amp``: under bf16 autocast; ``adapter``:
    the adapter weights' bytes (PEFT casts the input to them)."""
    if amp:  # lora_A keeps autocast's bf16 cast of its input; the fp32 input (dropped or not) is not kept
        return (AMP_BYTES + (MASK_BYTES if dropout > 0.0 else 0)) * width, False
    if dropout > 0.0:
        return (adapter + MASK_BYTES) * width, False
    if in_bytes == adapter:
        return 0, True
    return adapter * width, False


def dropout_forward(tr: Trace, tokens: int, width: int, nbytes: int = ADAPTER_BYTES) -> tuple[int, int]:
    """The adapter's dropout in a replayed forward: allocates the dropped copy (the adapter's dtype, ``nbytes``),
    then the mask (``native_dropout``'s two outputs, in that order); returns their keys."""
    out = tr.alloc(tokens * width * nbytes)
    return out, tr.alloc(tokens * width * MASK_BYTES)


def dropout_backward(tr: Trace, grad: int, tokens: int, width: int, nbytes: int = ADAPTER_BYTES) -> int:
    """``native_dropout_backward``: the input's gradient, a new tensor in the adapter's dtype (``nbytes``: fp32
    unless FSDP gathers the adapters in bf16); frees the gradient it read."""
    g = tr.alloc(tokens * width * nbytes)
    tr.free(grad)
    return g
