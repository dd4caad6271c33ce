"""The attention masks a rank keeps through a checkpointed eager step.

transformers 5 builds the decoder's masks once per forward, one per kind of layer the model has (``layer_types``:
``create_causal_mask`` for full attention, ``create_sliding_window_causal_mask`` for sliding layers); for eager
attention each is materialised as a float ``batch × 1 × seq × seq`` tensor in the embeddings' dtype
(``masking_utils.eager_mask``). Without checkpointing they die when the decoder's forward returns, before the loss.
Under full (non-reentrant) checkpointing every layer's call keeps its inputs, the mask among them, to its backward,
so a mask lives until the backward of the first layer that reads it (the simulator's trace of dev
gemma-2-9b-l4/fsdp8-ckpt-b2-s4096: the full mask freed in layer 1's backward, the sliding one in layer 0's).
The same holds on one GPU (``checkpoint_masks``): ``GradientCheckpointingLayer.__call__`` (transformers 5.25
modeling_layers.py) runs ``self._gradient_checkpointing_func(partial(super().__call__, **kwargs), *args)``, and the
decoder passes ``attention_mask=`` as a keyword, so the partial that ``torch.utils.checkpoint`` keeps for the
recomputation holds the mask until that layer's backward; the last holder is the first layer reading it."""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from ..hyv4_training import hyv4_streams

__all__ = ["checkpoint_masks", "eager_masks"]


def eager_masks(spec: ModelSpec, attn: str, ckpt: str, batch: int, seq: int, nbytes: int
                ) -> tuple[tuple[int, int], ...]:
    """(bytes, the first layer reading it) per mask kept through the step, full attention's first; none unless the
    attention is eager and every layer is checkpointed."""
    if attn != "eager" or ckpt != "full":
        return ()
    first: dict[bool, int] = {}
    for i, layer in enumerate(spec.layers):
        if layer.attention is not None:
            first.setdefault(layer.attention.sliding_window is not None, i)
    return tuple((batch * seq * seq * nbytes, first[k]) for k in (False, True) if k in first)


def checkpoint_masks(spec: ModelSpec, wl: Workload, nbytes: int) -> tuple[tuple[int, int], ...]:
    """The masks of ``eager_masks`` for a single-GPU step (``nbytes``: the embeddings' dtype); none for HY-V4, whose
    checkpoints count their own causal mask (``hyv4_training.hyv4_checkpoints``), nor for DeepSeek-V4's single-K/V
    layers (``dsv4_attention``: DeepseekV4Model.forward's sliding-window mask is kept the same way, as its trace
    shows, but that family's step is over by more elsewhere, and its replay's placement moves by gigabytes with it)."""
    if hyv4_streams(spec) or any(x.attention is not None and x.attention.single_kv for x in spec.layers):
        return ()
    return eager_masks(spec, wl.attn, wl.checkpointing, wl.batch, wl.context, nbytes)
