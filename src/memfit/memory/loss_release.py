"""What a transformers release's causal-LM loss keeps alive at the forward's loss moment.

memfit prices transformers 4.49 and later (and 5.x): ``ForCausalLMLoss`` upcasts the logits to fp32, pads the
labels by one position (``nn.functional.pad(labels, (0, 1), value=ignore_index)``) and runs cross-entropy on the
whole fp32 logits, so the loss holds the model's logits, their fp32 copy and log-softmax's fp32 output.
Older releases, read in the wheels of 4.40.0, 4.44.2, 4.45.2, 4.46.0, 4.48.1 and 4.49.0 (the Llama and Mistral
heads; other families of those releases are assumed to follow them):

* 4.46 – 4.48 (``loss/loss_utils.py``, ``ForCausalLMLoss``): after ``logits.float()`` it shifts the logits, not the
  labels: ``shift_logits = logits[..., :-1, :].contiguous()``, a second fp32 tensor of ``b·(s−1)·V`` alive while
  log-softmax writes its output (the model's logits and their fp32 upcast are still referenced). transformers PR
  #35646 (January 2025, first released in 4.49) replaced the copy by the padded labels.
* 4.45 and before (each model's own ``forward``, e.g. ``modeling_mistral.py`` / ``modeling_llama.py``): the model
  casts ``self.lm_head(...).float()`` itself, so the low-precision logits are freed before the loss, and then makes
  the same shifted contiguous copy (transformers PR #33902 removed the model's ``.float()`` for 4.46).

The backward is the same in all of them at its largest moment (log-softmax's output, the gradient of its output and
of its input, fp32); the shift's ``slice_backward`` then writes the gradient into a zero-filled fp32 tensor of the
unshifted shape while the shifted gradient is alive (two fp32 tensors, below that moment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["LossRelease", "checkpoint_reentrant", "checkpoint_wraps_call", "loss_note", "loss_release"]

_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[.+\-a-z0-9]*)$")


@dataclass(frozen=True)
class LossRelease:
    """``shift_copy``: the loss copies the shifted fp32 logits (``logits[..., :-1, :].contiguous()``).
    ``model_float``: the model's forward casts the logits to fp32 itself (the low-precision ones go first)."""

    shift_copy: bool = False
    model_float: bool = False
    release: str = ""  # the release as given ("" = memfit's default, transformers 4.49 and later)


def loss_release(version: str | None) -> LossRelease:
    """The loss layout of a transformers release (``None``: 4.49 and later). Refuses what is not a version."""
    if version is None:
        return LossRelease()
    m = _VERSION.match(version.strip().lower())
    if m is None:
        raise ConfigError(f"transformers_version {version!r} is not a version such as 4.48.1 or 5.0; give the version "
                          "`pip show transformers` prints")
    major, minor = int(m.group(1)), int(m.group(2))
    if major < 4 or (major == 4 and minor < 40):
        raise ConfigError(f"transformers_version {version!r} is older than 4.40, whose training loss memfit has not "
                          "read; give 4.40 or later")
    old = major == 4 and minor < 49
    return LossRelease(shift_copy=old, model_float=major == 4 and minor < 46, release=version.strip())


def checkpoint_wraps_call(version: str | None) -> bool:
    """Whether the release's gradient checkpointing wraps each decoder layer's ``__call__`` from the model's layer loop
    (``self._gradient_checkpointing_func(decoder_layer.__call__, hidden_states, ...)``, read in 4.48.1's
    ``modeling_mistral.py``): before ``GradientCheckpointingLayer`` (transformers PR #37223, merged 2025-04-11, first
    released in 4.52.0; the checkpoint then runs inside the layer's own ``__call__``). Under FSDP1's auto-wrap the
    module in the loop is the layer's FSDP unit, so the checkpoint runs around the unit (fsdp1_lora). PR #38913 moved
    the remaining families in 4.53; memfit takes 4.52 for all."""
    if version is None:
        return False
    loss_release(version)  # refuses what is not a release memfit has read
    m = _VERSION.match(version.strip().lower())
    assert m is not None
    major, minor = int(m.group(1)), int(m.group(2))
    return major == 4 and minor < 52


def checkpoint_reentrant(version: str | None) -> bool:
    """Whether the release's ``gradient_checkpointing_enable()`` without kwargs runs torch's reentrant checkpoint,
    which recomputes each layer's whole forward in backward (no early stop: ``training/recompute.py``). transformers
    4.x passes ``{"use_reentrant": True}`` (PR #28538, January 2024, to keep torch's then default explicit); PR
    #43203 (merged 2026-01-09) made it ``{"use_reentrant": False}``, as 5.25's ``_activation_checkpointing_enable``
    reads. memfit takes 4.x reentrant and 5.x (its default) not."""
    if version is None:
        return False
    loss_release(version)  # refuses what is not a release memfit has read
    m = _VERSION.match(version.strip().lower())
    assert m is not None
    return int(m.group(1)) == 4


def loss_note(rel: LossRelease) -> str:
    """The line an estimate prints about the release whose loss it priced."""
    if not rel.release:
        return "loss as in transformers 4.49 and later: fp32 upcast of the logits, labels shifted (no logits copy)"
    if not rel.shift_copy:
        return f"transformers {rel.release}: the loss of 4.49 and later (fp32 upcast, labels shifted, no logits copy)"
    own = "; the model casts its logits to fp32 itself (before 4.46)" if rel.model_float else ""
    return f"transformers {rel.release}: the loss keeps an fp32 copy of the shifted logits (before 4.49){own}"
