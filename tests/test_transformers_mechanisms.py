"""Mechanisms of transformers / torch that the simulated cases exposed, checked with hand-derived numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import CONFIGS, load_json
from memfit.errors import ConfigError
from memfit.memory.inference import estimate_inference
from memfit.memory.lora import expert_adapters, lora_parameters
from memfit.memory.model_activations import model_activations
from memfit.memory.runtimes.transformers_moments import cache_reset_length
from memfit.memory.training.states import training_precision
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.validate import workload_for_case
from memfit.workload import Workload


def _spec(name: str) -> ModelSpec:
    return spec_from_config(load_json(CONFIGS / f"{name}.json"), name)


def _gen(context: int, new: int, batch: int = 1, task: str = "generate") -> Workload:
    return Workload(mode="inference", task=task, batch=batch, context=context,
                    new_tokens=new if task == "generate" else 0).validate()


@pytest.mark.parametrize(("context", "new", "task", "expected"), [
    (4096, 32, "generate", 4097),   # first decoding step has 4097 tokens while the cache holds 4096
    (4095, 3, "generate", 4097),    # reaches 4097 tokens at the second decoding step
    (4095, 2, "generate", None),    # the last forward sees 4096 tokens: no crossing
    (4096, 1, "generate", None),    # no decoding step at all
    (6144, 8, "generate", None),    # prompt already past the switch: only the empty first cache is dropped
    (4096, 0, "prefill", None),
])
def test_phi3_cache_reset_length(context: int, new: int, task: str, expected: int | None) -> None:
    assert cache_reset_length(_spec("phi-3.5-mini-instruct"), _gen(context, new, task=task)) == expected


def test_cache_reset_only_for_phi3() -> None:
    assert cache_reset_length(_spec("llama-3.2-1b"), _gen(4096, 32)) is None


def test_phi3_config_default_switch_point() -> None:
    """Phi3Config's class default (4096) applies when config.json has no original_max_position_embeddings."""
    cfg = dict(load_json(CONFIGS / "phi-3.5-mini-instruct.json"))
    del cfg["original_max_position_embeddings"]
    assert spec_from_config(cfg, "phi3").original_max_position_embeddings == 4096


def test_phi3_cache_reset_holds_two_caches() -> None:
    """Phi-3.5-mini: 32 layers × 32 KV heads × 96 dims × (K, V) × 2 B = 393,216 B per token. At the reset
    generate still holds the old cache (2 sequences × 4096 tokens) while the re-prefill builds 2 × 4097."""
    est = estimate_inference(_spec("phi-3.5-mini-instruct"), _gen(4096, 32, batch=2))
    kv = {c.name: c.bytes for c in est.components}["kv_cache"]
    assert kv == 2 * 4096 * 393_216 + 2 * 4097 * 393_216 == 6_443_237_376
    assert est.details["peak_moment"].startswith("cache reset at 4,097 tokens")
    assert est.notes and "original_max_position_embeddings" in est.notes[0]


def test_fp32_grouped_kv_runs_sdpa_math_path() -> None:
    """Qwen2.5-0.5B (h 896, 14 heads, 2 KV heads, d 64, 24 layers) in fp32, prefill of 1 × 1024 tokens: no flash
    (half types only), no memory-efficient kernel (no GQA) → math path. Attention of layer 0, by hand:
    cache 24 × 1024 × 2·2·64·4 = 25,165,824; three stream tensors 3 × 1024 × 896 × 4 = 11,010,048;
    q and scaled q 2 × 1024·14·64·4 = 7,340,032; K/V repeated 1024·14·128·4 = 7,340,032;
    scores and masked scores 2 × 14·1024²·4 = 117,440,512; causal bias 1024²·4 = 4,194,304;
    rotary cos/sin 2 × 1024·64·4 = 524,288; input ids 1024 × 8 = 8,192."""
    wl = Workload(mode="inference", task="prefill", batch=1, context=1024, dtype="float32").validate()
    est = estimate_inference(_spec("qwen2.5-0.5b-instruct"), wl)
    expected = 25_165_824 + 11_010_048 + 7_340_032 + 7_340_032 + 117_440_512 + 4_194_304 + 524_288 + 8_192
    assert est.details["moments"]["prefill attention (layer 0)"] == expected == 173_023_232
    bf16 = estimate_inference(_spec("qwen2.5-0.5b-instruct"), replace(wl, dtype="bfloat16"))
    assert bf16.details["moments"]["prefill attention (layer 0)"] < 117_440_512  # flash: no score matrix


def test_gemma3_rotary_pair_per_layer_type() -> None:
    """Gemma 3 computes cos/sin for its local and its global RoPE before the first layer: one more pair of
    1 × 1024 tokens × 256 dims × 2 B × (cos, sin) = 1,048,576 bytes than a single-RoPE family."""
    spec = _spec("gemma-3-1b-it")
    wl = Workload(mode="inference", task="prefill", batch=1, context=1024).validate()
    two = estimate_inference(spec, wl).details["moments"]["prefill MLP (layer 0)"]
    one = estimate_inference(replace(spec, family="gemma2"), wl).details["moments"]["prefill MLP (layer 0)"]
    assert two - one == 1_048_576


def test_query_built_by_cat_copies_attention_output() -> None:
    """StableLM-2-1.6B rotates a quarter of each head and torch.cat's the query: the flash output comes back
    (b, heads, s, d)-contiguous and transpose().contiguous() copies it for o_proj. 24 layers × 4·1024 tokens ×
    2048 × 2 B = 402,653,184 more saved than the same architecture without the cat."""
    spec = _spec("stablelm-2-zephyr-1.6b")
    wl = workload_for_case("train", {"batch": 4, "seq": 1024, "amp": True}).validate()
    p = training_precision(spec, wl)
    cat = model_activations(spec, p, 4, 1024).saved_total
    plain = model_activations(replace(spec, family="llama"), p, 4, 1024).saved_total
    assert cat - plain == 24 * 4096 * 2048 * 2 == 402_653_184


def test_dropout_probabilities_from_config() -> None:
    star = _spec("starcoder2-7b")
    assert (star.embedding_dropout, star.residual_dropout, star.attention_dropout) == (0.1, 0.1, 0.1)
    phi2 = _spec("phi-2")
    assert (phi2.embedding_dropout, phi2.residual_dropout) == (0.0, 0.1)
    assert _spec("llama-3.2-1b").residual_dropout == 0.0
    cfg = dict(load_json(CONFIGS / "gpt2.json"))
    for key in ("embd_pdrop", "resid_pdrop", "attn_pdrop"):
        cfg.pop(key)
    assert spec_from_config(cfg, "gpt2").residual_dropout == 0.1  # GPT2Config's default
    cfg["resid_pdrop"] = 1.5
    with pytest.raises(ConfigError, match="resid_pdrop"):
        spec_from_config(cfg, "gpt2")


def test_mixtral_experts_need_their_v4_names() -> None:
    """Mixtral-8x7B (32 layers, h 4096, 8 KV heads × 128, 8 experts of I 14336), r = 8. PEFT maps only
    w1/w3/w2 onto the fused experts, so the usual projection names adapt attention alone:
    q, o 8·(4096 + 4096) and k, v 8·(4096 + 1024) per layer = 212,992 × 32 = 6,815,744.
    With w1, w3, w2: gate_up A 16·8 × 4096 + B 28672 × 128 = 4,194,304 and down A 64 × 14336 + B 4096 × 64
    = 1,179,648 more per layer."""
    spec = _spec("mixtral-8x7b-v0.1")
    usual = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    assert expert_adapters(spec, 8, usual) == []
    assert lora_parameters(spec, 8, usual) == 6_815_744
    v4 = ("q_proj", "k_proj", "v_proj", "o_proj", "w1", "w3", "w2")
    assert lora_parameters(spec, 8, v4) == 6_815_744 + 32 * (4_194_304 + 1_179_648)


def test_qwen2_moe_routed_experts_adapted_from_peft_0_22() -> None:
    """PEFT 0.21 has no v4 → v5 conversion for qwen2_moe itself: only its shared expert (nn.Linear) is adapted;
    0.22 adds it (``_MODEL_TO_CONVERSION_PATTERN["qwen2_moe"]``). Qwen1.5-MoE-A2.7B: 24 layers of 60 experts,
    h 2048, I 1408; r 16: gate_up A (2·16·60 = 1,920, 2,048), B (2·1,408 = 2,816, 1,920); down A (16·60 = 960,
    1,408), B (2,048, 960)."""
    spec, mlp = _spec("qwen1.5-moe-a2.7b"), ("gate_proj", "up_proj", "down_proj")
    assert expert_adapters(spec, 16, mlp, "0.21") == []
    new = expert_adapters(spec, 16, mlp, "0.22")
    assert new == [(i, kind, a, b) for i in range(24) for kind, a, b in
                   (("ffn_up_exps", (1920, 2048), (2816, 1920)), ("ffn_down_exps", (960, 1408), (2048, 960)))]
    assert expert_adapters(spec, 16, mlp) == new  # the default: the current release


def test_validate_passes_training_dtype() -> None:
    wl = workload_for_case("train", {"batch": 1, "seq": 8, "opt": "sgd", "dtype": "float32"})
    assert wl.dtype == "float32" and not wl.mixed_precision
    lora = workload_for_case("lora", {"batch": 1, "seq": 8, "r": 4, "amp": True, "dtype": "float16"})
    assert lora.mixed_precision and lora.dtype == "float16"


def test_mla_cache_is_the_latent_in_transformers() -> None:
    """DeepSeek-V2-Lite (27 layers, kv_lora_rank 512, rope 64): transformers caches the compressed latent,
    (512 + 64) × 2 B = 1,152 B per token and layer: 1 × 27 × 4,103 tokens × 1,152 B after 4096 + 8 − 1."""
    est = estimate_inference(_spec("deepseek-v2-lite"), _gen(4096, 8))
    assert est.details["kv_cache_final_bytes"] == 27 * 4103 * 1152 == 127_619_712


def test_mamba_prefill_scan_on_the_torch_path() -> None:
    """Falcon-Mamba-7B (64 layers, h 4096, d_inner 8192, d_state 16, d_conv 4), prefill 1 × 1024 tokens, by hand:
    states 64 × (4·8192 × 2 B + 8192·16 × 4 B) = 37,748,736 (the conv state in bf16, the SSM state in fp32, as
    transformers 5.25's LinearAttentionLayer keeps them); exp(A·dt), dt·B, dt·B·u: 3 × 1024·8192·16 × 4 B =
    1,610,612,736; per (token, channel) 7 × 2 + 2 × 4 = 22 B: 184,549,376; embeddings, fp32 residual and normed
    input 1024 · 4096 · (2 + 4 + 2) = 33,554,432; input ids 8,192."""
    wl = Workload(mode="inference", task="prefill", batch=1, context=1024).validate()
    est = estimate_inference(_spec("falcon-mamba-7b"), wl)
    expected = 37_748_736 + 1_610_612_736 + 184_549_376 + 33_554_432 + 8_192
    assert est.details["moments"]["prefill Mamba scan (layer 0)"] == expected == 1_866_473_472


def test_glm4_moe_qk_norm_runs_after_all_three_projections() -> None:
    """GLM-4.6 (96 heads × d 128 = 12,288-wide q, 8 KV heads, per-head q/k RMSNorm, ``use_qk_norm``), prefill of
    1 × 8192 tokens in bf16: Glm4MoeAttention makes q, k and v, then norms q in fp32. Alive at that moment, by hand
    (the simulator's trace of glm-4.6-l3/gen-b1-s8192-new8 shows the same tensors): q 8192·12288·2 = 201,326,592;
    k and v 2 × 8192·1024·2 = 33,554,432; q's fp32 copy and fp32 normed product 2 × 8192·12288·4 = 805,306,368:
    1,040,187,392 in all, against q + k + v + the kernel's output (201,326,592 + 33,554,432 + 201,326,592 =
    436,207,616) without the norm. A family that norms q before it makes k and v (Qwen3) lacks k and v there."""
    spec = _spec("glm-4.6")
    wl = Workload(mode="inference", task="prefill", batch=1, context=8192).validate()
    name = "prefill attention (layer 0)"
    normed = estimate_inference(spec, wl).details["moments"][name]
    layers = [replace(x, attention=replace(x.attention, qk_norm="none")) if x.attention else x for x in spec.layers]
    plain = estimate_inference(replace(spec, layers=type(spec.layers)(layers)), wl).details["moments"][name]
    assert normed - plain == 1_040_187_392 - 436_207_616 == 603_979_776
    qwen3 = estimate_inference(replace(spec, family="qwen3_moe"), wl).details["moments"][name]
    assert normed - qwen3 == 33_554_432
