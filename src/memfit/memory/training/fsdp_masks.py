"""The attention masks a rank keeps through a checkpointed eager step.

transformers 5 builds the decoder's masks once per forward, one per kind of layer the model has (``layer_types``:
``create_causal_mask`` for full attention, ``create_sliding_window_causal_mask`` for sliding layers); for eager
attention each is materialised as a float ``batch × 1 × seq × seq`` tensor in the embeddings' dtype
(``masking_utils.eager_mask``). Without checkpointing they die when the decoder's forward returns, before the loss.
Under full (non-reentrant) checkpointing every layer's call keeps its inputs, the mask among them, to its backward,
so a mask lives until the backward of the first layer that reads it (the simulator's trace of dev
gemma-2-9b-l4/fsdp8-ckpt-b2-s4096: the full mask freed in layer 1's backward, the sliding one in layer 0's)."""

from __future__ import annotations

from ...spec import ModelSpec

__all__ = ["eager_masks"]


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
