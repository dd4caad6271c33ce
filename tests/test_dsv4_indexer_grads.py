"""DeepSeek-V4's lightning indexer gets no gradient in training, so no AdamW state either (training/states.py
``indexer_parameter``). transformers 5.25 models/deepseek_v4/modeling_deepseek_v4.py ``DeepseekV4Indexer.forward``
returns only ``index_scores.topk(...).indices`` (integers: torch's topk differentiates its values alone), which
``DeepseekV4CSACompressor.forward`` reads only to scatter a constant into a fresh ``block_bias``; torch's AdamW
(optim/adam.py ``_init_group``) takes only the parameters whose ``.grad`` is not None."""

from __future__ import annotations

from typing import Any

import pytest

from memfit.memory.training.layer_stream import StepContext
from memfit.memory.training.pool import _states, _trainable
from memfit.memory.training.states import model_states
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload
from test_pool_build import Recorded

# a tiny DeepSeek-V4: hidden 16, 2 layers (layer 0 CSA at rate 4 with its indexer, layer 1 HCA at rate 128), 2 heads
# of 8, q_lora 8, 4 experts of width 8 (top 2), 2 output groups of rank 4, indexer 2 heads x 4, 2 hyper-connection
# streams, vocabulary 64, untied
TINY: dict[str, Any] = {
    "model_type": "deepseek_v4",
    "vocab_size": 64,
    "hidden_size": 16,
    "moe_intermediate_size": 8,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "q_lora_rank": 8,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "o_groups": 2,
    "o_lora_rank": 4,
    "index_n_heads": 2,
    "index_head_dim": 4,
    "index_topk": 2,
    "sliding_window": 4,
    "qk_rope_head_dim": 4,
    "hc_mult": 2,
    "compress_ratios": [4, 128],
    "tie_word_embeddings": False,
}
# layer 0's indexer: kv_proj and gate_proj (2 x 4, 16) = 128 each, q_b_proj (2 x 4, 8) = 64, scorer.weights_proj
# (2, 16) = 32 in bf16 (352 x 2 = 704 B); position_bias (4, 2 x 4) = 32 and kv_norm (4,) float32
# (_keep_in_fp32_modules_strict: 36 x 4 = 144 B): 388 parameters, 848 B
INDEXER_PARAMETERS, INDEXER_BYTES = 388, 848


def test_indexer_has_no_gradient_and_no_adamw_state() -> None:
    """By hand (bf16 full training): layer 0's parameters take 9,616 B (sinks 8, q_a 256, q_a_norm 32, q_b 256, kv
    256, kv_norm 32, o_a 128, o_b 256; the compressor's (4, 16) fp32 bias 256, kv and gate (16, 16) 512 each, norm 32;
    the indexer 848; the router 128, experts 2,048 + 1,024, shared expert 3 x 256; two fp32 norms 128; two
    hyper-connections (8, 32) + 8 + 3 fp32, 1,068 each), layer 1's 12,096 (no indexer; the HCA compressor's (128, 8)
    fp32 bias 4,096, kv and gate (8, 16) 256 each, norm 32). Layer 0's gradients are 9,616 - 848 = 8,768 B, the
    gradients in all 848 B under the weights and AdamW's states twice the gradients. The old code gave the indexer
    a gradient and both states: weights = gradients, layer 0's 9,616 B."""
    spec = spec_from_config(TINY)
    wl = Workload(mode="train", batch=1, context=256, mixed_precision=False)
    full = model_states(spec, wl)
    assert full.weights - full.gradients == INDEXER_BYTES
    assert full.optimizer.state_bytes == 2 * full.gradients
    assert full.layer_grads == (9_616 - INDEXER_BYTES, 12_096)
    # the pool's parameters with a gradient and AdamW states: none of the indexer's
    tr = Recorded()
    params = _trainable(StepContext(tr, spec, full.precision, 1, 256), wl, full)
    layer0 = sum(n for layer, _kind, n, _m in params if layer == 0)
    # in 2-B units (a kept-float32 tensor counts twice its elements): 9,616 / 2 before, less the indexer's 424
    assert layer0 == (9_616 - INDEXER_BYTES) // 2
    _states(tr, full, params)
    assert sum(tr.sizes) == full.optimizer.state_bytes


def test_transformers_gives_the_indexer_no_gradient() -> None:
    """The tiny model trained one step by transformers on the CPU: exactly the indexer's parameters have no
    ``.grad`` (256 tokens: each compressor has whole windows, so both compressors get theirs)."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    conf = transformers.CONFIG_MAPPING["deepseek_v4"](**{k: v for k, v in TINY.items() if k != "model_type"})
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(conf)
    ids = torch.randint(0, 64, (1, 256))
    model(input_ids=ids, labels=ids).loss.backward()
    no_grad = {n: p.numel() for n, p in model.named_parameters() if p.grad is None}
    assert sorted(no_grad) == sorted(
        f"model.layers.0.self_attn.compressor.indexer.{n}"
        for n in (
            "kv_proj.weight",
            "gate_proj.weight",
            "position_bias",
            "kv_norm.weight",
            "q_b_proj.weight",
            "scorer.weights_proj.weight",
        )
    )
    assert sum(no_grad.values()) == INDEXER_PARAMETERS
