"""What a BART-family decoder keeps for backward outside its layers, where the generic path prices a final norm.

transformers 5.25 ``models/bart/modeling_bart.py`` ``BartDecoder.forward`` (and its copies, ``sources/bart_family.py``):
``layernorm_embedding(inputs_embeds + positions)`` where the decoder has one — ``native_layer_norm`` saves its input
(the residual dtype) and its fp32 mean and rstd, per token; a post-norm decoder (``bart``, ``plbart``, ``marian``,
``blenderbot-small``, ``mvp``, ``trocr``) has no norm after its last layer, so ``lm_head`` saves the last layer's
``final_layer_norm`` output itself (``*ForCausalLM.forward``: ``logits = self.lm_head(outputs[0])``), the tensor a
final norm's output would have been."""

from __future__ import annotations

from ..sources.bart_family import BART_FAMILY
from ..spec import ModelSpec
from .activations import Precision, _inputs

__all__ = ["bart_outside_saved"]

NORM_STATS = 8  # native_layer_norm's fp32 mean and rstd, per token


def bart_outside_saved(spec: ModelSpec, p: Precision) -> int:
    """Bytes per token the embeddings' LayerNorm and a post-norm decoder's head input keep; 0 for other types."""
    if spec.family not in BART_FAMILY:
        return 0
    h, r = spec.hidden_size, p.resid_bytes
    saved = r * h + NORM_STATS if spec.embedding_norm else 0
    if not spec.final_norm:
        own, shared = _inputs(h, ["output"], r, p)  # lm_head's input: the last layer's output
        saved += own + shared
    return saved
