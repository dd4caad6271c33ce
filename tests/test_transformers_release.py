"""Older transformers releases in inference (``--transformers-version``, memory/runtimes/transformers_release.py).

The expected mechanisms per release are the facts read in the released wheels (data/transformers_inference.toml);
the expected bytes are worked out by hand from the shapes.
"""

from __future__ import annotations

import pytest

from memfit import Workload
from memfit.errors import ConfigError
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_release import buffer_bytes, inference_release, release_moments
from memfit.sources.hf_config import spec_from_config

LLAMA_2_7B = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
              "intermediate_size": 11008, "num_attention_heads": 32, "num_hidden_layers": 32,
              "num_key_value_heads": 32, "max_position_embeddings": 4096, "rms_norm_eps": 1e-05,
              "vocab_size": 32000, "torch_dtype": "float16", "tie_word_embeddings": False, "hidden_act": "silu"}
PYTHIA_410M = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_size": 1024,
               "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 24,
               "max_position_embeddings": 2048, "rotary_pct": 0.25, "rotary_emb_base": 10000,
               "use_parallel_residual": True, "vocab_size": 50304, "torch_dtype": "float16", "hidden_act": "gelu",
               "layer_norm_eps": 1e-05, "tie_word_embeddings": False}

KV_PER_TOKEN_LLAMA = 32 * 2 * 4096 * 2  # layers x (K, V) x hidden x fp16


def _wl(**kw: object) -> Workload:
    base: dict[str, object] = {"mode": "inference", "dtype": "float16"}
    base.update(kw)
    return Workload(**base).validate()  # type: ignore[arg-type]


def test_mechanisms_by_release() -> None:
    r = inference_release("4.35.2", "llama")
    assert (r.tuple_cache, r.prompt_logits, r.held_outputs, r.float_logits, r.rotary_tables, r.dropped_probs) == (
        True, True, True, True, True, True)
    assert not r.logits_clone and not r.causal_bias and not r.eager_model_dtype and r.cache_widths == 0
    r = inference_release("4.42.4", "llama")  # generate passes a DynamicCache, deletes its outputs
    assert not r.tuple_cache and not r.held_outputs and r.prompt_logits and r.float_logits
    r = inference_release("4.45.2", "gpt2")  # gpt2 keeps its tuples and all logits; generate clones them
    assert r.tuple_cache and r.prompt_logits and r.logits_clone and r.causal_bias and not r.float_logits
    assert r.cache_widths == 3
    # a dev build is priced as the release before it: 4.42.0.dev0 is 4.41, whose generate held its outputs
    r = inference_release("4.42.0.dev0", "gpt_neox")
    assert r.held_outputs and r.tuple_cache and r.cache_widths == 4 and r.eager_model_dtype and r.causal_bias
    assert not inference_release("4.42.0", "gpt_neox").held_outputs
    assert not inference_release("5.0", "llama").old
    assert not inference_release(None, "llama").old


@pytest.mark.parametrize("bad", ["4.30", "3.5.1", "latest", "4"])
def test_bad_release_is_one_line(bad: str) -> None:
    with pytest.raises(ConfigError, match="transformers_version"):
        inference_release(bad, "llama")


def test_tuple_cache_holds_two_caches_at_the_last_step() -> None:
    spec = spec_from_config(LLAMA_2_7B, "llama-2-7b")
    wl = _wl(batch=64, context=256, new_tokens=512, transformers_version="4.35.2")
    last = next(m for m in release_moments(spec, wl) if m.name.startswith("last decoding step"))
    # the old cache at 766 tokens (held by generate) + the new one at 767
    assert last.kv_cache == 64 * (766 + 767) * KV_PER_TOKEN_LLAMA
    first = next(m for m in release_moments(spec, wl) if m.name.startswith("first decoding step"))
    assert first.kv_cache == 64 * (256 + 257) * KV_PER_TOKEN_LLAMA
    assert first.logits >= 64 * 256 * 32000 * 4  # the prompt's fp32 logits, still referenced
    # transformers 5: one cache (peak_moments unchanged without a release)
    assert release_moments(spec, _wl(batch=64, context=256, new_tokens=512)) == peak_moments(
        spec, _wl(batch=64, context=256, new_tokens=512))


def test_forward_with_cache_and_fp32_logits() -> None:
    spec = spec_from_config(LLAMA_2_7B, "llama-2-7b")
    wl = _wl(batch=64, context=256, task="forward", forward_cache=True, transformers_version="4.35.2")
    logits = next(m for m in release_moments(spec, wl) if m.name.startswith("logits"))
    assert logits.logits == 64 * 256 * 32000 * (2 + 4)  # fp16 logits and their fp32 cast, together at the cast
    assert logits.kv_cache == 64 * 256 * KV_PER_TOKEN_LLAMA
    plain = next(m for m in release_moments(spec, _wl(batch=64, context=256, task="forward", forward_cache=True))
                 if m.name.startswith("logits"))
    assert plain.logits == 64 * 256 * 32000 * 2 and plain.kv_cache == logits.kv_cache


def test_buffers() -> None:
    llama = spec_from_config(LLAMA_2_7B, "llama-2-7b")
    wl = _wl(transformers_version="4.35.2")
    assert buffer_bytes(llama, wl, inference_release("4.35.2", "llama"))[0] == 32 * 2 * 4096 * 128 * 2
    assert buffer_bytes(llama, wl, inference_release("4.41.2", "llama"))[0] == 0
    pythia = spec_from_config(PYTHIA_410M, "pythia-410m")
    # rotary tables of 16 dims (rotary_pct 0.25 of 64) + a bool 2048 x 2048 causal bias per layer
    assert buffer_bytes(pythia, wl, inference_release("4.44.2", "gpt_neox"))[0] == 24 * (2 * 2048 * 16 * 2
                                                                                          + 2048 * 2048)


def test_gpt_neox_prompt_cache_holds_the_qkv_output() -> None:
    spec = spec_from_config(PYTHIA_410M, "pythia-410m")
    wl = _wl(batch=4, context=2048, new_tokens=100, transformers_version="4.44.2")
    first = next(m for m in release_moments(spec, wl) if m.name.startswith("first decoding step"))
    per_token = 24 * 1024 * 2  # one hidden width per layer, fp16
    # the prompt's cache: K (1 width) and V, a view of the whole qkv output (3 widths); the new cache: K and V
    assert first.kv_cache == 4 * 2048 * per_token * 4 + 4 * 2049 * per_token * 2


def test_forward_cache_needs_the_forward_task() -> None:
    with pytest.raises(ConfigError, match="forward_cache"):
        _wl(task="generate", forward_cache=True)


def test_the_note_names_the_release_and_an_unread_family() -> None:
    from memfit.memory.runtimes.transformers_release import release_note

    llama = spec_from_config(LLAMA_2_7B, "llama-2-7b")
    note = release_note(llama, _wl(transformers_version="4.35.2"))
    assert note is not None and "4.35.2" in note and "tuple cache" in note and "not read" not in note
    assert "device total is a floor" in note  # a tuple-cache generate: the reserve is not priced
    note = release_note(llama, _wl(task="forward", transformers_version="4.35.2"))
    assert note is not None and "floor" not in note
    mistral = spec_from_config({**LLAMA_2_7B, "model_type": "mistral", "architectures": ["MistralForCausalLM"]}, "m")
    note = release_note(mistral, _wl(transformers_version="4.35.2"))
    assert note is not None and "mistral's code not read" in note
    assert release_note(llama, _wl()) is None
