"""X-MOD (issue 12, l12xmod) as transformers 5.25 runs ``XmodForCausalLM`` (models/xmod/modeling_xmod.py): BERT
layers read by the BERT-family reader, each feed-forward block ending with ``XmodOutput.lang_adapter`` (the sum, its
norm, zeros, the language's rows, the bottleneck adapter, the intermediate activation held by ``XmodLayer.forward``
until it returns), and no cache from a prefill of an encoder config (``XmodModel.forward``: ``use_cache = False``
unless ``config.is_decoder``). Found on xmod-default-l3/prefill-en-b2-s470 (blind round 7, allocated +9.51 %),
moved to development (tests/data/simulated/sweep-dev.jsonl) before its trace was read."""

from __future__ import annotations

from typing import Any

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers import _ffn_transient
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_no_cache import prefill_keeps_cache
from memfit.memory.runtimes.transformers_xmod import adapter_ffn
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.workload import Workload

XMOD: dict[str, Any] = {
    "model_type": "xmod",
    "vocab_size": 1000,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    "hidden_act": "gelu",
    "max_position_embeddings": 130,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pre_norm": False,
    "adapter_reduction_factor": 2,
    "adapter_layer_norm": False,
    "adapter_reuse_layer_norm": True,
    "ln_before_adapter": True,
    "languages": ["en_XX"],
    "default_language": "en_XX",
    "is_decoder": False,
    "tie_word_embeddings": True,
}


def _spec(**overrides: Any) -> ModelSpec:
    return spec_from_config({**XMOD, **overrides}, "xmod-tiny")


def _prefill(task: str = "prefill") -> Workload:
    return Workload(mode="inference", task=task, batch=1, context=10, dtype="float16").validate()


def test_xmod_is_read_as_a_bert_layer() -> None:
    spec = _spec()
    mlp = spec.layers[0].mlp
    assert mlp is not None and mlp.kind == "plain" and mlp.activation == "gelu"
    assert spec.layers[0].norm_layout == "post" and spec.position_embedding == "learned"


def test_prefill_ffn_peak_is_the_adapter_by_hand() -> None:
    """t = 10 tokens, h = 64, intermediate 256, bottleneck 64 // 2 = 32, fp16: the intermediate's dense output and
    activation 2 × 10 × 256 × 2 = 10,240 B; at dense2's output the activation, five hidden-sized tensors (sum, its
    norm, zeros, rows, dense2's output) and the bottleneck's activation: 10 × (256 + 5 × 64 + 32) × 2 = 12,160 B."""
    spec = _spec()
    assert _ffn_transient(spec, spec.layers[0], 0, _prefill(), 10, 2)[0] == 12_160
    # without the reused norm (adapter_reuse_layer_norm false, no adapter_layer_norm): 10 × (256 + 4 × 64 + 32) × 2
    plain = _spec(adapter_reuse_layer_norm=False)
    assert _ffn_transient(plain, plain.layers[0], 0, _prefill(), 10, 2)[0] == 10_880


def test_encoder_config_prefill_keeps_no_cache() -> None:
    """is_decoder false: no DynamicCache; is_decoder true: 2 layers × K and V × 10 tokens × 64 × 2 B = 5,120 B."""
    spec = _spec()
    assert not prefill_keeps_cache(spec, _prefill())
    assert all(m.kv_cache == 0 for m in peak_moments(spec, _prefill()))
    decoder = _spec(is_decoder=True)
    assert prefill_keeps_cache(decoder, _prefill())
    assert max(m.kv_cache for m in peak_moments(decoder, _prefill())) == 5_120
    assert not prefill_keeps_cache(decoder, _prefill("forward"))
    assert prefill_keeps_cache(spec, _prefill("generate"))  # (generate on an encoder config: not modelled here)


def test_adapter_ffn_replay_by_hand() -> None:
    """t = 16, h = 64, intermediate 256, bottleneck 32, fp16, batch 1 (blocks of 512 B): the peak is at dense2's
    output: activation 8,192 + sum, norm, zeros, rows, dense2's output 5 × 2,048 + the bool language mask (512) +
    the bottleneck's activation 1,024 = 19,968 B; the zeros (the output) and the activation stay."""
    tr = Trace()
    out, act = adapter_ffn(tr, _spec(), 1, 16, 256, 2)
    assert tr.pool.peak_allocated == 19_968
    assert tr.pool.allocated == 2_048 + 8_192
    tr.free(out, act)
    assert tr.pool.allocated == 0
