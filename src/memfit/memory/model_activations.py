"""A whole model's activations for one micro-batch (:class:`~.activations.ModelActivations`): every layer's
(:mod:`.activations`), the first layer's under LoRA where its input needs no gradient (:mod:`.first_layer`), and what
lives outside the layers: inputs, the final norm, the logits and the loss."""

from __future__ import annotations

from dataclasses import replace

from ..spec import ModelSpec
from .activations import (
    LOG_SOFTMAX_BYTES,
    LayerActivations,
    ModelActivations,
    Precision,
    _cross,
    _inputs,
    _layer,
    _norm,
)
from .axk2_attention import first_norm_relief
from .bart_head import bart_outside_saved
from .bert_head import bert_outside_saved, head_width
from .dsv4_attention import dsv4_head_saved
from .first_layer import first_layer_saved
from .hyv4_training import hyv4_checkpoints, hyv4_head_saved
from .relative_attention import RELATIVE_ATTENTION, relative_layer, relative_outside
from .runtimes import transformers_families as fam
from .torchtune import torchtune_layers

__all__ = ["log_softmax_bytes", "model_activations"]


def log_softmax_bytes(spec: ModelSpec, p: Precision) -> int:
    """Bytes per logit of the loss's log-softmax: fp32 (``ForCausalLMLoss``'s ``logits.float()``), or the logits' own
    dtype where the head calls ``CrossEntropyLoss`` on them (``MODEL_DTYPE_LOSS``; autocast keeps it in fp32)."""
    return p.proj_bytes if spec.family in fam.MODEL_DTYPE_LOSS and not p.amp else LOG_SOFTMAX_BYTES


def model_activations(spec: ModelSpec, p: Precision, batch: int, seq: int, images: bool = True) -> ModelActivations:
    """Activations of one micro-batch of ``batch`` sequences of ``seq`` tokens, layer by layer. Without ``images``
    a cross-attention layer (mllama's) is skipped (MllamaTextModel runs it only with image states): it keeps none."""
    h, V = spec.hidden_size, spec.vocab_size
    T = batch * seq
    layers = tuple(LayerActivations(0, 0, 0, 0, 0, 0) if _cross(layer) and not images else
                   _layer(spec, layer, p, batch, seq) for layer in spec.layers)
    layers = first_layer_saved(spec, p, layers, T)  # a parallel first layer under LoRA: its input needs no grad
    if p.trainer != "transformers":  # torchtune's own Llama: K/V copied to every head, packed RoPE gathers
        layers = torchtune_layers(spec, p, layers, T)
    if relief := first_norm_relief(spec, p, T):  # A.X-K2's gated input norm under LoRA: the same rule
        layers = (replace(layers[0], saved=layers[0].saved - relief), *layers[1:])
    relative = spec.family in RELATIVE_ATTENTION  # XLNet: relative attention, post-norm, no final norm
    if relative:
        layers = tuple(relative_layer(spec, layer, la, p, batch, seq)
                       for layer, la in zip(spec.layers, layers, strict=True))
    if p.embed_out_bytes and layers:  # checkpointing keeps the first layer's input in the embedding's dtype
        layers = (replace(layers[0], checkpoint=T * p.embed_out_bytes * h), *layers[1:])
    layers = hyv4_checkpoints(spec, p, layers, batch, seq)  # HY-V4: the hyper-connection streams (hyv4_training.py)
    gemma, layernorm, r = fam.gemma_norm(spec.family), spec.norm != "rms", p.resid_bytes
    outside = T * 16  # input ids and shifted labels (int64)
    if p.embedding_dropout > 0:
        outside += T * h  # embedding dropout mask
    outside += T * bert_outside_saved(spec, p)  # a BERT-family embedding LayerNorm and head transform
    outside += T * bart_outside_saved(spec, p)  # a BART-family embedding LayerNorm, a post-norm head's input
    # the hyper-connection head's saved tensors: DeepSeek-V4's (dsv4_attention.py), HY-V4's (hyv4_training.py)
    outside += (hc_head := dsv4_head_saved(spec, T) + hyv4_head_saved(spec, T, p.resid_bytes))
    final_hidden = final_norm = 0
    if relative:
        kept, final_norm = relative_outside(spec, p, batch, seq)
        outside += kept
    if spec.final_norm:
        n_saved, out_b = _norm(h, r, p, gemma or spec.family in fam.FP32_WEIGHT_NORM, layernorm,
                               spec.norm == "layernorm_fp32")
        own, shared = _inputs(h, ["output"], out_b, p)
        final_norm = T * (n_saved + own + shared)
        outside += final_norm
        final_hidden = 0 if shared else T * out_b * h  # alive at the loss, freed after the forward
    logit_b = 2 if p.amp else p.weight_bytes
    TV = T * V
    # transformers < 4.49: cross-entropy runs on logits[..., :-1, :].contiguous(), an fp32 copy of b·(s−1) rows alive
    # while log-softmax writes its output of those rows (loss_release.py); 4.49 on: on all b·s rows, labels padded
    RV = batch * (seq - 1) * V if p.loss_shift_copy else TV
    loss_saved = LOG_SOFTMAX_BYTES * RV
    fwd_extra = logit_b * TV + (4 * TV if logit_b != 4 else 0) + final_hidden
    if p.model_float_logits:  # the model's own .float(): its 16-bit logits are freed before the loss runs
        fwd_extra = 4 * TV + final_hidden
    if p.loss_shift_copy and batch > 1:  # a batch of one: the slice is already contiguous (c10's compute_contiguous
        fwd_extra += 4 * RV  # skips size-1 dimensions), so .contiguous() returns it and no copy is made
    if spec.family in fam.SOFTCAPPED_LOGITS:  # final_logit_softcapping: tanh keeps its output
        loss_saved += logit_b * TV
    loss_back = 8 * RV
    if log_softmax_bytes(spec, p) != LOG_SOFTMAX_BYTES:  # CrossEntropyLoss on the model-dtype logits: no fp32 copy
        loss_saved, fwd_extra, loss_back = logit_b * TV, logit_b * TV + final_hidden, 2 * logit_b * TV
    head_casts = 2 * V * head_width(spec) if (p.amp and p.full) else 0  # the decoder's V × d weight's cast
    emb_back = 0
    if p.full:
        emb_back = 2 * r * T * h + (4 if p.amp else p.weight_bytes) * V * h * (1 if spec.tie_word_embeddings else 0)
    return ModelActivations(layers=layers, outside=outside, loss_saved=loss_saved, loss_forward_extra=fwd_extra,
                            loss_backward_extra=loss_back, head_weight_casts=head_casts,
                            embedding_backward_extra=emb_back,
                            final_norm=final_norm, hc_head=hc_head)
