"""Chunked prefill: a config.json carrying ``prefill_chunk_size`` (MLC's files: 2,048) makes transformers'
``generate`` run the prompt in chunks (5.25 ``GenerationConfig.from_model_config`` copies the key,
generation/utils.py ``_prefill`` splits the prompt with ``torch.split`` and runs one forward per chunk over the cache
so far). Found on the development case llama-2-70b-hf-l2/gen-fp16-eager-b1-s2200-new8 (its catalog config has the
key; the case file keeps it, `memfit estimate llama-2-70b` drops it as the Hub file has none): the simulator's trace
scores 2,048 × 2,048 in the first chunk and 152 × 2,200 in the second."""

from __future__ import annotations

from typing import Any

from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_prefill import prefill_chunks
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload


def _config(**extra: Any) -> dict[str, Any]:
    cfg = dict(model_type="llama", hidden_size=256, intermediate_size=512, num_hidden_layers=1,
               num_attention_heads=4, num_key_value_heads=4, vocab_size=1000, max_position_embeddings=4096,
               torch_dtype="float16")
    cfg.update(extra)
    return cfg


def _wl(task: str = "generate", context: int = 300) -> Workload:
    return Workload(mode="inference", task=task, batch=1, context=context, new_tokens=2 if task == "generate" else 0,
                    attn="eager", dtype="float16").validate()


def test_the_config_key_is_read() -> None:
    assert spec_from_config(_config(prefill_chunk_size=256)).prefill_chunk_size == 256
    assert spec_from_config(dict(model_type="llava", text_config=_config(prefill_chunk_size=128),
                                 vision_config={})).prefill_chunk_size == 128
    assert spec_from_config(_config()).prefill_chunk_size == 0


def test_chunks() -> None:
    spec = spec_from_config(_config(prefill_chunk_size=256))
    assert prefill_chunks(spec, _wl()) == [(256, 256), (44, 300)]
    # the first chunk, the last full one (two chunks of 256 before it), the rest
    assert prefill_chunks(spec, _wl(context=600)) == [(256, 256), (256, 512), (88, 600)]
    assert prefill_chunks(spec, _wl(context=256)) == [(256, 256)]
    assert prefill_chunks(spec, _wl("prefill")) == [(300, 300)]  # model(...) is not chunked
    assert prefill_chunks(spec_from_config(_config()), _wl()) == [(300, 300)]


def test_chunk_moments_worked_by_hand() -> None:
    spec = spec_from_config(_config(prefill_chunk_size=256))
    moments = {m.name: m for m in peak_moments(spec, _wl())}
    first = moments["prefill attention (layer 0, chunk of 256 tokens over 256)"]
    assert first.kv_cache == 2 * 4 * 64 * 256 * 2  # K and V of 256 tokens, fp16
    # stream (embeddings, layer input, normed input) 3·256·256·2 + q 256·4·64·2 + scores 4·256·256 × 8 B (masked
    # fp16, fused half→float softmax) + eager mask 256·256·2 + cos/sin 2·256·64·2 + ids and attention mask 300·8·2
    assert first.activations == 393_216 + 131_072 + 2_097_152 + 131_072 + 65_536 + 4_800
    rest = moments["prefill attention (layer 0, chunk of 44 tokens over 300)"]
    assert rest.kv_cache == 2 * 4 * 64 * 300 * 2
    assert rest.activations == 3 * 44 * 256 * 2 + 44 * 4 * 64 * 2 + 4 * 44 * 300 * 8 + 44 * 300 * 2 \
        + 2 * 44 * 64 * 2 + 300 * 8 * 2
    whole = {m.name for m in peak_moments(spec_from_config(_config()), _wl())}
    assert "prefill attention (layer 0)" in whole
