"""BART-family decoders run as causal LMs, read as transformers 5.25 builds them, where the generic reader would take
their config for a Llama-shaped decoder (rotary positions, RMSNorm, pre-norm, bias-free projections, no dropout).

Every type here builds the same decoder block (transformers 5.25 ``models/bart/modeling_bart.py``
``BartDecoderLayer`` and its copies in ``mbart``, ``plbart``, ``marian``, ``pegasus``, ``blenderbot``,
``blenderbot_small``, ``bigbird_pegasus``, ``mvp``, ``trocr``, ``xglm``):

* ``self_attn``: ``q_proj`` / ``k_proj`` / ``v_proj`` / ``out_proj`` Linear layers with biases, the probabilities
  dropped with ``config.attention_dropout``; ``self_attn_layer_norm`` and ``final_layer_norm`` are ``nn.LayerNorm``
  (weight and bias);
* the MLP: ``fc1`` (bias) -> ``ACT2FN[config.activation_function]`` -> dropout of ``activation_dropout`` -> ``fc2``
  (bias), not gated;
* the attention's and fc2's outputs dropped with ``config.dropout`` before each residual add;
* post-norm (``hidden_states = self_attn_layer_norm(residual + hidden_states)``, the same for ``final_layer_norm``;
  no norm after the last layer): ``bart``, ``plbart``, ``marian``, ``blenderbot-small``, ``mvp``, ``trocr``;
  pre-norm (each sub-block norms its input, the decoder norms once after the last layer: ``MBartDecoder.layer_norm``,
  ``PegasusDecoder.layer_norm``, ``BlenderbotDecoder.layer_norm``, ``XGLMModel.layer_norm``,
  ``BigBirdPegasusDecoder``'s ``layernorm_embedding`` run after the layers): ``mbart``, ``pegasus``,
  ``blenderbot``, ``bigbird_pegasus``, ``xglm``;
* the embeddings: ``embed_tokens(input_ids) * embed_scale`` plus ``embed_positions`` (a learned
  ``*LearnedPositionalEmbedding``, or a sinusoidal table looked up the same way in marian, pegasus, xglm and trocr
  without ``use_learned_position_embeddings``: a hidden-sized tensor added either way, no rotary tables), then
  ``layernorm_embedding`` where the decoder has one (``bart``, ``mbart``, ``plbart``, ``blenderbot-small``,
  ``mvp``; ``trocr`` when ``config.layernorm_embedding``), dropout of ``config.dropout``.

The parameter tensors stay those of transformers' own meta-device build (``generic_tensors``): this module only
says how the blocks run. ``activation_dropout`` (0.0 in every config class's default) is priced in training where a
config sets it: ``nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)`` between
the activation and ``fc2`` in every decoder layer above (``spec.activation_dropout``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..spec import ModelSpec
from .bert_family import relaid_layers
from .families.common import dropouts

__all__ = ["BART_FAMILY", "bart_layout"]

POST_NORM = ("bart", "plbart", "marian", "blenderbot-small", "mvp", "trocr")
PRE_NORM = ("mbart", "pegasus", "blenderbot", "bigbird_pegasus", "xglm")
BART_FAMILY = POST_NORM + PRE_NORM
# the decoders that norm the embeddings before the first layer
_EMBEDDING_LAYERNORM = ("bart", "mbart", "plbart", "blenderbot-small", "mvp")


def bart_layout(cfg: Mapping[str, Any], spec: ModelSpec) -> ModelSpec:
    """``spec`` (the generic reader's) with a BART-family type's decoder as its modelling code runs it; any other
    type unchanged."""
    if spec.family not in BART_FAMILY:
        return spec
    pre = spec.family in PRE_NORM
    layers = relaid_layers(spec, str(cfg.get("activation_function") or "gelu"), pre)
    emb_norm = spec.family in _EMBEDDING_LAYERNORM or (
        spec.family == "trocr" and cfg.get("layernorm_embedding", True) is not False
    )
    return replace(
        spec,
        layers=layers,
        norm="layernorm",
        position_embedding="learned",
        final_norm=pre,
        embedding_norm=emb_norm,
        **dropouts(cfg, "dropout", "dropout", "attention_dropout", 0.0, activation="activation_dropout"),
    )
