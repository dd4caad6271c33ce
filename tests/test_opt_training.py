"""OPT in training (issue 12, l12sweept): found on the blind training sweep's opt-default-l4 fp32 full fine-tune
(+7.20 % allocated), moved to development (tests/data/simulated/train-sweep-dev.jsonl) before this was written.

transformers 5.25 ``modeling_opt.py``: ``OPTDecoderLayer`` normalises with ``nn.LayerNorm`` (OPTConfig has no eps
field, so the generic path read RMSNorm), drops the attention output and fc2's output with ``config.dropout``, and its
MLP is fc1 -> ReLU -> fc2; ReLU's derivative reads its output (derivatives.yaml ``threshold_backward(grad, result,
0)``), the tensor fc2 keeps too, so fc1's output is not kept."""

from __future__ import annotations

from dataclasses import replace

from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.sources.hf_config import spec_from_config

OPT = {"model_type": "opt", "hidden_size": 768, "num_hidden_layers": 2, "num_attention_heads": 12, "ffn_dim": 3072,
       "vocab_size": 50272, "max_position_embeddings": 2048, "activation_function": "relu", "dropout": 0.1,
       "attention_dropout": 0.0, "do_layer_norm_before": True, "word_embed_proj_dim": 768, "enable_bias": True}
FP32_FULL = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True, dropout=0.1, kv_cache=True)


def test_opt_spec_layernorm_and_dropout() -> None:
    spec = spec_from_config(OPT, "t")
    assert spec.norm == "layernorm"
    assert spec.residual_dropout == 0.1
    assert spec.attention_dropout == 0.0
    assert spec.embedding_dropout == 0.0


def test_opt_layer_saved_by_hand() -> None:
    """Per token, fp32, SDPA (the memory-efficient kernel: heads == kv heads), as the simulator's trace of the
    development case shows per layer (150 MiB at 4,096 tokens): two LayerNorm inputs (4h + mean and rstd 8 each),
    the norm's output q/k/v read (4h), q, k, v (12h), the kernel's output (4h) and log-sum-exp (4 per head), the
    attention dropout's bool mask (h), the second norm's output fc1 reads (4h), ReLU's output (4·I), fc2's dropout
    mask (h)."""
    spec = spec_from_config(OPT, "t")
    h, inter, heads = 768, 3072, 12
    per_token = 2 * (4 * h + 8) + 4 * h + 12 * h + 4 * h + 4 * heads + h + 4 * h + 4 * inter + h
    assert per_token == 38464
    acts = model_activations(spec, FP32_FULL, 4, 1024)
    assert acts.layers[0].saved == 4 * 1024 * per_token


BIOGPT = {"model_type": "biogpt", "hidden_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 16,
          "intermediate_size": 4096, "vocab_size": 42384, "max_position_embeddings": 1024, "hidden_act": "gelu",
          "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "activation_dropout": 0.0,
          "layer_norm_eps": 1e-12, "scale_embedding": True}


def test_biogpt_dropouts() -> None:
    """transformers 5.25 modeling_biogpt.py: BioGptModel.forward drops the embeddings with hidden_dropout_prob (a bool
    mask per token and feature kept for backward), BioGptDecoderLayer the attention output and fc2's output with it
    (one mask each per layer: found on the development copy biogpt-default-l4 fp32 AdamW, -2.33 % allocated)."""
    spec = spec_from_config(BIOGPT, "t")
    assert (spec.embedding_dropout, spec.residual_dropout, spec.attention_dropout) == (0.1, 0.1, 0.1)
    drop = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True, dropout=0.1, embedding_dropout=0.1)
    none = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)
    with_masks, without = model_activations(spec, drop, 4, 1024), model_activations(spec, none, 4, 1024)
    t, h = 4 * 1024, 1024
    assert with_masks.layers[0].saved - without.layers[0].saved == 2 * t * h  # two bool masks per layer
    assert with_masks.outside - without.outside == t * h  # the embedding dropout's mask


XGLM = {"model_type": "xglm", "d_model": 1024, "num_layers": 2, "attention_heads": 16, "ffn_dim": 4096,
        "vocab_size": 256008, "max_position_embeddings": 2048, "activation_function": "gelu", "dropout": 0.1,
        "attention_dropout": 0.1, "activation_dropout": 0.0, "scale_embedding": True}


def test_xglm_eager_training_scores() -> None:
    """transformers 5.25 modeling_xglm.py (found on the development copy xglm-default-l3 fp32 eager AdamW, -7.43 %):
    XGLMModel drops the embeddings, XGLMDecoderLayer the attention output and fc2's output with config.dropout,
    XGLMAttention its probabilities with attention_dropout; and XGLMAttention keeps ``attn_weights + attention_mask``
    (``torch.max`` with the dtype's minimum: maximum's backward reads its inputs), one fp32 score tensor per layer
    beyond the shared eager path's."""
    spec = spec_from_config(XGLM, "t")
    assert (spec.embedding_dropout, spec.residual_dropout, spec.attention_dropout) == (0.1, 0.1, 0.1)
    p = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True, attn="eager", dropout=0.1,
                  attention_dropout=0.1, embedding_dropout=0.1)
    own, shared = model_activations(spec, p, 2, 1024), model_activations(replace(spec, family="other"), p, 2, 1024)
    assert own.layers[0].saved - shared.layers[0].saved == 2 * 16 * 1024 * 1024 * 4  # b × heads × s² × fp32
