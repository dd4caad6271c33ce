"""OLMo-2's block in the inference pool replay, as transformers 5.25 modeling_olmo2.py runs it (found on the
development case olmo-2-0325-32b-l4/gen-fp16-eager-b2-s3000-new8, device total +8.47 %, against the simulator's
allocation trace): ``Olmo2RotaryEmbedding`` returns fp32 cos/sin and ``apply_rotary_pos_emb`` rotates in fp32 and
casts back at its return; ``Olmo2RMSNorm`` returns ``(self.weight * hidden_states).to(input_dtype)`` (the product in
fp32, then the cast); ``Olmo2DecoderLayer`` norms the attention's and the MLP's outputs (no pre-norms)."""

from __future__ import annotations

from _trace_recorder import Recorder
from memfit.memory.runtimes.transformers_pool import _layer
from memfit.memory.runtimes.transformers_pool_attention import _rotate, norm
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.workload import Workload


def _spec(model_type: str) -> ModelSpec:
    return spec_from_config(dict(model_type=model_type, hidden_size=256, intermediate_size=512, num_hidden_layers=1,
                                 num_attention_heads=4, num_key_value_heads=4, vocab_size=1000, torch_dtype="float16"))


def test_rope_in_fp32_cast_back_at_return() -> None:
    tr = Recorder()
    q, k = tr.alloc(1000 * 2), tr.alloc(200 * 2)  # 1,000 and 200 fp16 elements
    tr.events.clear()
    _rotate(tr, _spec("olmo2"), 64, 64, (q, k), (2000, 400), 2)

    def one(n: int) -> list[tuple[str, int]]:  # q·cos fp32, −x₂, cat, q_rot·sin fp32, their sum fp32
        return [("+", 2 * n), ("+", n // 2), ("+", n), ("-", n // 2), ("+", 2 * n), ("-", n), ("+", 2 * n),
                ("-", 2 * n), ("-", 2 * n)]

    assert tr.events == one(2000) + one(400) + [("+", 2000), ("+", 400), ("-", 4000), ("-", 800),
                                                 ("-", 2000), ("-", 400)]


def test_norm_weight_product_in_fp32() -> None:
    tr = Recorder()
    norm(tr, _spec("olmo2"), 1000, 2)  # 1,000 fp16 elements
    assert tr.events == [("+", 4000), ("+", 4000), ("-", 4000), ("+", 4000), ("-", 4000),  # x.float(), pow, x·rsqrt
                         ("+", 4000), ("+", 2000), ("-", 4000), ("-", 4000)]  # weight·x fp32, .to(fp16)
    tr = Recorder()
    norm(tr, _spec("llama"), 1000, 2)  # Llama: the cast, then the weight
    assert tr.events[-4:] == [("+", 2000), ("+", 2000), ("-", 2000), ("-", 4000)]


def test_post_norms_only() -> None:
    from dataclasses import replace

    post = _spec("olmo2")
    pre = replace(post, layers=tuple(replace(layer, norm_layout="pre") for layer in post.layers))
    wl = Workload(mode="inference", task="prefill", batch=1, context=64, attn="sdpa", dtype="float16").validate()
    firsts = []
    for spec in (post, pre):
        tr = Recorder()
        stream = tr.alloc(64 * 256 * 2)
        tr.events.clear()
        _layer(tr, spec, wl, 0, 64, 2, 2 * 64 * 256 * 2, False, stream, stream)
        firsts.append(tr.events[0])
    # OLMo-2 starts with q_proj's output (64 tokens × 256, fp16); a pre-norm layer with the norm's fp32 copy
    assert firsts == [("+", 64 * 256 * 2), ("+", 64 * 256 * 4)]
