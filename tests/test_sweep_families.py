"""Family facts found on the blind sweep's development cases (issue 12, l12sweep; tests/data/simulated/sweep-dev.jsonl,
moved there from blind-sweep.jsonl before these were written), each from transformers 5.25's modelling code:
Cohere's fp32 rotary embedding, GPTBigCode's and GPT-Neo's kept attention output."""

from __future__ import annotations

from memfit.memory.runtimes.transformers import _attn_transient, _stream_tensors
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

COHERE = {"model_type": "cohere", "hidden_size": 1024, "num_attention_heads": 8, "num_key_value_heads": 2,
          "intermediate_size": 2816, "num_hidden_layers": 2, "vocab_size": 32000, "layer_norm_eps": 1e-5}


def test_cohere_rotates_fp32_copies_in_half_precision() -> None:
    spec = spec_from_config(COHERE, "t")
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", task="forward", batch=1, context=1000).validate()
    got, text = _attn_transient(att, wl, 1, 1000, 2, False, False, "cohere")
    q, k = 1000 * 8 * 128, 1000 * 2 * 128  # elements: 8 query heads, 2 K/V heads of 128
    # fp16 q, k, v (no cache in a forward) + fp32: q's copy and rotated copy, k's copy, k·cos, rot, rot·sin
    assert got == (q + 2 * k) * 2 + 2 * q * 4 + 4 * k * 4
    assert "fp32 RoPE" in text
    # in fp32, .float() returns the tensor itself: the kernel's figure as for any family
    assert _attn_transient(att, wl, 1, 1000, 4, False, False, "cohere") == \
        _attn_transient(att, wl, 1, 1000, 4, False, False, "llama")


def test_attention_output_kept_through_the_mlp() -> None:
    base = {"n_embd": 256, "n_head": 4, "n_layer": 2, "vocab_size": 1000, "layer_norm_epsilon": 1e-5}
    bigcode = spec_from_config({"model_type": "gpt_bigcode", "multi_query": True, **base}, "t")
    neo = spec_from_config({"model_type": "gpt_neo", "hidden_size": 256, "num_heads": 4, "num_layers": 2,
                            "vocab_size": 1000, "attention_types": [[["global", "local"], 1]]}, "t")
    llama = spec_from_config({"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4,
                              "num_hidden_layers": 2, "intermediate_size": 512, "vocab_size": 1000}, "t")
    assert _stream_tensors(bigcode) == _stream_tensors(llama) + 1
    assert _stream_tensors(neo) == _stream_tensors(llama) + 1


def test_mpt_eager_probabilities_times_value() -> None:
    spec = spec_from_config({"model_type": "mpt", "d_model": 512, "n_heads": 4, "n_layers": 1, "vocab_size": 1000,
                             "max_seq_len": 2048}, "t")
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", task="forward", batch=1, context=1024, attn="eager").validate()
    got, text = _attn_transient(att, wl, 1, 1024, 4, True, False, "mpt")
    t, scores = 1024, 4 * 1024 * 1024
    # fp32: Wqkv's fused output (3 × 512 per token), masked scores and probabilities, value's copy, the output
    assert got == 3 * t * 512 * 4 + 2 * scores * 4 + t * 512 * 4 + t * 512 * 4
    assert "value copy" in text
