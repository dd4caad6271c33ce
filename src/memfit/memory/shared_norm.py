"""The input LayerNorms of a parallel block share (``activations`` and ``first_layer`` count it once)."""

from __future__ import annotations

from ..spec import LayerSpec

__all__ = ["shared_norm_input"]


def shared_norm_input(layer: LayerSpec, stream: int, layernorm: bool) -> int:
    """Bytes per token to take off ``norms`` × one norm's saved bytes: the LayerNorms of a parallel block read one
    input (transformers 5.25 ``GPTNeoXLayer.forward``: ``input_layernorm`` and ``post_attention_layernorm`` both norm
    ``hidden_states``; Falcon's ``ln_attn`` / ``ln_mlp``), which ``native_layer_norm`` keeps once for all of them
    (``stream``: its bytes per token). RMSNorms each make their own fp32 copy: nothing shared."""
    parallel = layernorm and layer.norm_layout == "parallel" and layer.norms > 1
    return stream * (layer.norms - 1) if parallel else 0
