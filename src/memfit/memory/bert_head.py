"""What a BERT-family causal LM keeps for backward outside its layers (``sources/bert_family.py``): the embeddings'
LayerNorm and the head's transform before the decoder.

transformers 5.25 ``models/roberta/modeling_roberta.py``:

* ``RobertaEmbeddings.forward``: ``LayerNorm(inputs_embeds + token_type_embeddings + position_embeddings)``, then
  dropout; ``native_layer_norm`` keeps its input (the sum, in the weights' dtype: fp32 under autocast, which does
  not cast embeddings) and its fp32 mean and rstd;
* ``RobertaLMHead.forward``: ``x = self.dense(features)`` (keeps its input: under autocast the bf16 cast of the fp32
  stream, else the stream itself), ``x = gelu(x)`` (keeps its input, ``dense``'s output), ``x = self.layer_norm(x)``
  (keeps its input: autocast runs ``layer_norm`` in fp32, so an fp32 copy of ``gelu``'s output; else the output
  itself; and its mean and rstd), ``x = self.decoder(x)`` (keeps its input: under autocast the bf16 cast of the
  norm's fp32 output, else the output itself). BERT's and ERNIE's ``*PredictionHeadTransform`` run the same three
  ops (``dense``, ``transform_act_fn``, ``LayerNorm``) before ``decoder``.

ELECTRA (``models/electra/modeling_electra.py``) runs the same at ``embedding_size`` (``e``, the word embeddings'
width): ``ElectraEmbeddings.LayerNorm`` over ``e``, then ``ElectraModel.embeddings_project`` (``Linear(e, h)``, built
when ``e != h``; keeps its input), and ``ElectraGeneratorPredictions`` (``dense`` h → e, ``gelu``, ``LayerNorm(e)``)
before ``generator_lm_head`` (``Linear(e, V)``): every tensor after the head's ``dense`` is ``e`` wide.

RemBERT (``models/rembert/modeling_rembert.py``) decouples the two: ``RemBertEmbeddings`` (word, token-type and
position tables and ``LayerNorm``) are ``input_embedding_size`` wide, ``RemBertEncoder.embedding_hidden_mapping_in``
(``Linear(input_embedding_size, h)``, keeps its input) maps them to ``h``, and ``RemBertLMPredictionHead`` runs
``dense`` (h → ``output_embedding_size``), the activation, ``LayerNorm(output_embedding_size)`` and ``decoder``
(``Linear(output_embedding_size, V)``, untied): the head's tensors are ``output_embedding_size`` wide
(:func:`head_width`, the decoder's in-features, ``allocator_trace.output_width``).

A frozen Linear (LoRA) keeps no input; ``activations._inputs`` says what each Linear keeps."""

from __future__ import annotations

from ..inventory import inventory
from ..sources.bert_family import BERT_HEADS, EMBEDDING_LAYERNORM
from ..spec import ModelSpec
from .activations import Precision, _inputs
from .allocator_trace import output_width

__all__ = ["bert_outside_saved", "head_width"]

NORM_STATS = 8  # native_layer_norm's fp32 mean and rstd, per token


def embedding_width(spec: ModelSpec) -> int:
    """The word embeddings' width as transformers builds them (ELECTRA's ``embedding_size``); else ``hidden_size``."""
    widths = [t.shape[1] for t in inventory(spec) if t.name.endswith("word_embeddings.weight") and len(t.shape) == 2]
    return widths[0] if widths else spec.hidden_size


def head_width(spec: ModelSpec) -> int:
    """The width the decoder reads (its in-features): a BERT-family head's own (ELECTRA's ``embedding_size``,
    RemBERT's ``output_embedding_size``), else ``hidden_size``."""
    return output_width(spec) if spec.family in BERT_HEADS else spec.hidden_size


def bert_outside_saved(spec: ModelSpec, p: Precision) -> int:
    """Bytes per token the embeddings' LayerNorm and the head's transform keep for backward; 0 for other types."""
    if spec.family not in BERT_HEADS:
        return 0
    h, r, pb = spec.hidden_size, p.resid_bytes, p.proj_bytes
    e, o = embedding_width(spec), head_width(spec)
    saved = (r * e + NORM_STATS) if spec.family in EMBEDDING_LAYERNORM else 0
    if e != h:  # ELECTRA's embeddings_project (RemBERT's embedding_hidden_mapping_in) keeps the embeddings' output
        name = "embedding_hidden_mapping_in" if spec.family == "rembert" else "embeddings_project"
        own, shared = _inputs(e, [name], r, p)
        saved += own + shared
    own, shared = _inputs(h, ["lm_head.dense"], r, p)  # dense's input: the last layer's output
    saved += own + shared
    saved += pb * o  # gelu's input, dense's output
    norm_in = 4 if p.amp else pb  # layer_norm's input: gelu's output (its fp32 copy under autocast)
    saved += norm_in * o + NORM_STATS
    own, shared = _inputs(o, ["output"], norm_in, p)  # the decoder's input: the norm's output
    return saved + own + shared
