"""BERT-family encoders run as causal LMs, read as transformers 5.25 builds them, where the generic reader would take
their config for a Llama-shaped decoder (rotary positions, gated bias-free MLP, pre-norm, a final norm).

Every type here builds the same blocks (transformers 5.25 ``models/bert/modeling_bert.py`` and its copies
``roberta``, ``camembert``, ``xlm_roberta``, ``data2vec/modeling_data2vec_text.py``, ``ernie``, ``electra``, whose
embeddings and head are ``embedding_size`` wide, and ``rembert``, whose embeddings are ``input_embedding_size`` and
head ``output_embedding_size`` wide, its decoder untied, ``memory/bert_head.py``):

* ``*Embeddings.forward``: ``word_embeddings(input_ids) + token_type_embeddings(token_type_ids)``, then
  ``+ position_embeddings(position_ids)`` (learned absolute positions), ``LayerNorm``, dropout of
  ``hidden_dropout_prob``;
* ``*SelfAttention``: ``query`` / ``key`` / ``value`` Linear layers with biases, the attention's probabilities
  dropped with ``attention_probs_dropout_prob``; ``*SelfOutput.forward``: ``dense`` (bias), dropout,
  ``LayerNorm(hidden_states + input_tensor)`` — the norm after the residual add (post-norm);
* ``*Intermediate``: ``dense`` (h → intermediate, bias) and ``ACT2FN[hidden_act]``; ``*Output.forward``: ``dense``
  (bias), dropout, ``LayerNorm(hidden_states + input_tensor)``; no norm after the last layer;
* the causal-LM head (``RobertaLMHead.forward``: ``dense``, ``gelu``, ``layer_norm``, ``decoder``; BERT's and
  ERNIE's ``*PredictionHeadTransform``: ``dense``, ``transform_act_fn``, ``LayerNorm``, then ``decoder``), the
  decoder tied to ``word_embeddings`` with a bias of its own (``memory/bert_head.py`` prices the transform).

The pre-norm copies (``roberta_prelayernorm``: ``RobertaPreLayerNormAttention`` and ``...Intermediate`` norm their
input, the model norms ``sequence_output`` once after the encoder; ``xlm_roberta_xl``: the same, the encoder's
``LayerNorm`` after the last layer, and no ``LayerNorm`` in ``XLMRobertaXLEmbeddings``; ``megatron_bert``:
``MegatronBertAttention.forward`` and ``MegatronBertLayer.feed_forward_chunk`` norm their input with ``ln``,
``MegatronBertEncoder`` ends with ``ln``, ``MegatronBertEmbeddings`` has no ``LayerNorm`` — "In Megatron, layer-norm
is applied after the 1st dropout" — and ``MegatronBertLMPredictionHead`` is BERT's) keep the rest.

GIT (``git``; transformers 5.25 ``models/git/modeling_git.py``) runs the same post-norm blocks (``GitSelfOutput``,
``GitIntermediate`` and ``GitOutput`` are "Copied from" BERT's; ``GitSelfAttention``'s ``query`` / ``key`` / ``value``
have biases), ``GitEmbeddings.forward`` adds learned absolute positions to the word embeddings (no token types) and
ends with ``LayerNorm`` and dropout, and ``GitEncoder`` has no norm after its last layer; its head is not BERT's:
``GitForCausalLM.output`` is one ``nn.Linear(hidden_size, vocab_size)`` on the last hidden state.

The parameter tensors stay those of transformers' own meta-device build (``generic_tensors``): this module only
says how the blocks run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..spec import LayerSpec, MLPSpec, ModelSpec
from .families.common import dropouts

__all__ = ["BERT_BLOCKS_ONLY", "BERT_HEADS", "EMBEDDING_LAYERNORM", "bert_layout"]

POST_NORM = ("bert", "roberta", "camembert", "xlm-roberta", "data2vec-text", "ernie", "electra", "xmod", "rembert")
PRE_NORM = ("roberta-prelayernorm", "xlm-roberta-xl", "megatron-bert")
# the causal LMs whose head is dense -> activation -> LayerNorm -> decoder before the logits
BERT_HEADS = POST_NORM + PRE_NORM
# BERT's post-norm blocks and embeddings LayerNorm under a plain Linear head (GIT: module docstring)
BERT_BLOCKS_ONLY = ("git",)
# the embeddings end with a LayerNorm (not xlm_roberta_xl's)
EMBEDDING_LAYERNORM = (*POST_NORM, "roberta-prelayernorm", *BERT_BLOCKS_ONLY)


def biased_plain_layer(layer: LayerSpec, act: str, pre: bool) -> LayerSpec:
    """``layer`` as the BERT and BART families build theirs: biased q/k/v/o, a plain biased fc1 -> ``act`` -> fc2 MLP,
    two LayerNorms before (``pre``) or after each residual add."""
    attn = layer.attention
    mlp = layer.mlp
    return replace(
        layer,
        attention=None if attn is None else replace(attn, qkv_bias=True, o_bias=True),
        mlp=None if mlp is None else MLPSpec(mlp.intermediate_size, "plain", True, act),
        norms=2,
        norm_layout="pre" if pre else "post",
    )


def relaid_layers(spec: ModelSpec, act: str, pre: bool) -> tuple[LayerSpec, ...]:
    """``spec``'s layers through ``biased_plain_layer``, a layer object shared by several positions kept shared."""
    distinct: dict[int, LayerSpec] = {}
    return tuple(distinct.setdefault(id(x), biased_plain_layer(x, act, pre)) for x in spec.layers)


def bert_layout(cfg: Mapping[str, Any], spec: ModelSpec) -> ModelSpec:
    """``spec`` (the generic reader's) with a BERT-family type's blocks as its modelling code runs them; any other
    type unchanged."""
    if spec.family not in BERT_HEADS and spec.family not in BERT_BLOCKS_ONLY:
        return spec
    pre = spec.family in PRE_NORM
    layers = relaid_layers(spec, str(cfg.get("hidden_act") or "gelu"), pre)
    return replace(
        spec,
        layers=layers,
        position_embedding="learned",
        final_norm=pre,
        embedding_norm=spec.family in EMBEDDING_LAYERNORM,
        **dropouts(cfg, "hidden_dropout_prob", "hidden_dropout_prob", "attention_probs_dropout_prob", 0.1),
    )
