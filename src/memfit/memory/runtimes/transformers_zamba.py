"""Zamba's residual stream at a Mamba mixer's prefill (transformers 5.25 ``models/zamba/modeling_zamba.py``), for the
allocated moments of ``transformers.py``.

``ZambaModel.forward`` keeps ``inputs_embeds`` and ``original_hidden_states = torch.clone(inputs_embeds)`` (the
shared block's second input) to its end; its loop holds the layer's input (from the second layer on: the first
layer's is ``inputs_embeds`` itself) until the layer returns. ``ZambaMambaDecoderLayer.forward`` holds the normed
input while the mixer runs; in a ``ZambaHybridLayer`` it also holds ``transformer_hidden_states`` (``linear``'s output,
bound in ``ZambaHybridLayer.forward`` while its Mamba layer runs); the sum of the two is gone once normed.
"""

from __future__ import annotations

from ...spec import ModelSpec

__all__ = ["zamba_stream_tensors"]


def zamba_stream_tensors(spec: ModelSpec, hybrid: bool) -> int:
    """Hidden-sized tensors alive at the last Mamba mixer of its kind (hybrid or Mamba-only): the embeddings, their
    clone, the normed input, the layer's input unless that layer is the first, the shared block's output in a hybrid
    layer."""
    last = max((i for i, layer in enumerate(spec.layers) if (layer.attention is not None) == hybrid), default=0)
    return 3 + (last > 0) + hybrid
