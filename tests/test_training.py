"""Training memory: exact values worked out by hand, the issue-4 thresholds on the H100 ground truth,
and the activations model against what PyTorch autograd really saves (tiny models on the CPU)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from _saved import layer_saved_bytes
from conftest import GROUNDTRUTH
from memfit import estimate
from memfit.errors import ConfigError, MemfitError
from memfit.memory.activations import Precision, korthikanti_layer_bytes
from memfit.memory.model_activations import model_activations
from memfit.memory.optimizers import optimizer_memory
from memfit.memory.training import estimate_training
from memfit.sources.hf_config import spec_from_config
from memfit.sources.loader import load_model
from memfit.workload import Workload

WORKSPACES = 2 * 33_554_432  # two cuBLAS workspaces (forward thread, autograd thread), 32 MiB each on Hopper


# ----------------------------------------------------------------------------------------------
# exact values by hand


def test_adamw_states_exact() -> None:
    # Llama-3.2-1B pure bf16: exp_avg + exp_avg_sq = zeros_like(param) → 2 × 1,235,814,400 × 2 B
    n = 1_235_814_400
    opt = optimizer_memory("adamw-fused", [(n,)], 2)
    assert opt.state_bytes == 4_943_257_600 and opt.step_temporary == 0
    foreach = optimizer_memory("adamw-foreach", [(n,)], 4)
    assert foreach.state_bytes == 8 * n and foreach.step_temporary == 4 * n  # _foreach_sqrt buffer


def test_bnb_adamw8bit_exact() -> None:
    # (4096, 4096): 2 × (16,777,216 uint8 + 4 B × 65,536 absmax); (100,) < 4096 elements: 2 fp32 states
    opt = optimizer_memory("adamw8bit", [(4096, 4096), (100,)], 2)
    assert opt.state_bytes == 2 * (16_777_216 + 262_144) + 800
    paged = optimizer_memory("paged-adamw8bit", [(4096, 4096)], 2)
    assert not paged.on_device


def test_adafactor_lion_sgd_exact() -> None:
    assert optimizer_memory("adafactor", [(1024, 4096), (4096,)], 4).state_bytes == (1024 + 4096) * 4 + 4096 * 4
    assert optimizer_memory("adafactor", [(8, 16, 32)], 4).state_bytes == (8 * 16 + 8 * 32) * 4
    assert optimizer_memory("lion", [(10, 10)], 4).state_bytes == 400
    assert optimizer_memory("sgd-momentum", [(10, 10)], 2).state_bytes == 200
    assert optimizer_memory("sgd", [(10, 10)], 2).state_bytes == 0
    with pytest.raises(ConfigError):
        optimizer_memory("adamax-9000", [(1,)], 4)


def test_llama_layer_activations_by_hand() -> None:
    """Llama-3.2-1B, pure bf16, sdpa, b = 4, s = 1024 (h = 2048, 32 heads × 64, 8 KV heads, I = 8192).
    Per token: 2 RMSNorms × (fp32 input 4h + bf16 normed 2h + fp32 rsqrt 4) + q/k/v input 2h + q 2h + k 0.5h
    + v 0.5h + output 2h + fp32 log-sum-exp 4·32 + gate/up input 2h + gate, silu, up 3 × 2I + down input 2I
    = 53h + 136 B."""
    spec = load_model("llama-3.2-1b")
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
    la = model_activations(spec, p, 4, 1024).layers[0]
    assert la.saved == 4 * 1024 * (53 * 2048 + 136)
    assert la.checkpoint == 4 * 1024 * 2 * 2048
    assert la.weight_casts == 0


def test_loss_terms_by_hand() -> None:
    spec = load_model("llama-3.2-1b")
    T, V = 4 * 1024, 128_256
    acts = model_activations(spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), 4, 1024)
    assert acts.loss_saved == 4 * T * V  # fp32 log_softmax output
    assert acts.loss_forward_extra == 6 * T * V  # bf16 logits + their fp32 copy
    assert acts.loss_backward_extra == 8 * T * V  # fp32 grad of the logits + log_softmax backward output


def test_optimizer_step_peak_by_hand() -> None:
    """Tiny batch, mixed precision, foreach AdamW: the peak is the optimizer step with fp32 weights (4P),
    fp32 gradients (4P), two fp32 states (8P) and the foreach sqrt temporary (4P)."""
    spec = load_model("llama-3.2-1b")
    n = 1_235_814_400
    e = estimate_training(spec, Workload(mode="train", batch=1, context=16, optimizer="adamw-foreach"))
    assert e.details["peak_phase"] == "optimizer step"
    assert e.allocated_bytes == 20 * n + WORKSPACES
    fused = estimate_training(spec, Workload(mode="train", batch=1, context=16, optimizer="adamw-fused"))
    assert fused.allocated_bytes < e.allocated_bytes


def test_korthikanti_table2() -> None:
    s, b, h, a = 2048, 1, 12288, 96
    assert korthikanti_layer_bytes(s, b, h, a) == s * b * h * 34 + 5 * a * s * s * b
    assert korthikanti_layer_bytes(s, b, h, a, t=8, sequence_parallel=True, recompute="selective") == \
        s * b * h * 34 // 8
    assert korthikanti_layer_bytes(s, b, h, a, recompute="full") == 2 * s * b * h


def test_checkpointing_and_accumulation_order() -> None:
    kw: dict[str, Any] = dict(mode="train", batch=4, context=2048)
    none = estimate("llama-3.2-1b", checkpointing="none", **kw)
    sel = estimate("llama-3.2-1b", checkpointing="selective", attn="eager", **kw)
    sel_none = estimate("llama-3.2-1b", checkpointing="none", attn="eager", **kw)
    full = estimate("llama-3.2-1b", checkpointing="full", **kw)
    assert full.allocated_bytes < none.allocated_bytes  # type: ignore[operator]
    assert sel.allocated_bytes < sel_none.allocated_bytes  # type: ignore[operator]
    acc = estimate("llama-3.2-1b", checkpointing="none", grad_accum=8, **kw)
    assert acc.allocated_bytes > none.allocated_bytes  # type: ignore[operator]


def test_json_contract_and_components() -> None:
    e = estimate("llama-3.2-1b", mode="train", batch=2, context=1024)
    j = e.to_json()
    for name in ("weights", "gradients", "optimizer_states", "activations", "cuda_context", "allocator_reserve"):
        assert name in j["components"]
    assert j["total_bytes"] == sum(j["components"].values())
    assert isinstance(j["parameters"], int) and j["parameters"] == 1_235_814_400
    assert e.allocated_bytes is not None and e.allocated_bytes < e.total_bytes
    assert j["details"]["per_gpu"][0]["components"]["weights"] == 4 * 1_235_814_400
    for line in e.explain():
        assert line


def test_paged_optimizer_is_outside_the_allocator() -> None:
    kw: dict[str, Any] = dict(mode="train", batch=1, context=512, mixed_precision=False)
    paged = estimate("llama-3.2-1b", optimizer="paged-adamw8bit", **kw)
    plain = estimate("llama-3.2-1b", optimizer="adamw8bit", **kw)
    assert paged.allocated_bytes < plain.allocated_bytes  # type: ignore[operator]
    assert paged.component("optimizer_states") == plain.component("optimizer_states")


def test_bad_training_input() -> None:
    with pytest.raises(ConfigError):
        estimate("llama-3.2-1b", mode="train", optimizer="nope")
    with pytest.raises(MemfitError, match="training needs float weights"):
        estimate("llama-3.2-1b", mode="train", dtype="q4_k_m")


# ----------------------------------------------------------------------------------------------
# the H100 measurements (issue 4 thresholds)


def _cases() -> list[dict[str, Any]]:
    out = []
    for name in ("h100.jsonl", "h100-bnb.jsonl"):
        path = GROUNDTRUTH / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("kind") in ("train", "lora") and "peak_alloc" in rec:
                out.append(rec)
    return out


def _workload(rec: dict[str, Any]) -> Workload:
    p = rec["params"]
    ckpt = "full" if p.get("ckpt") else "none"
    if rec["kind"] == "train":
        return Workload(mode="train", batch=p["batch"], context=p["seq"], optimizer=p["opt"],
                        mixed_precision=p["amp"], dtype="bfloat16", checkpointing=ckpt, attn=p.get("attn", "sdpa"))
    return Workload(mode="qlora" if p.get("quant") else "lora", batch=p["batch"], context=p["seq"],
                    lora_rank=p["r"], lora_targets=tuple(p.get("targets") or Workload().lora_targets),
                    quant=p.get("quant"), checkpointing=ckpt, optimizer=p.get("opt", "adamw-fused"),
                    mixed_precision=False, dtype="bfloat16")


CASES = _cases()


@pytest.mark.skipif(not CASES, reason="tests/data/groundtruth is absent")
def test_groundtruth_trainable_parameters() -> None:
    """Every measured training case: the trainable parameters exactly (the peak's bounds: tests/test_accuracy.py)."""
    assert len(CASES) >= 14
    for rec in CASES:
        spec = spec_from_config(rec["config"], rec["model"])
        est = estimate_training(spec, _workload(rec))
        assert est.allocated_bytes is not None
        assert est.details["trainable_parameters"] == rec["trainable_params"], rec["case"]


@pytest.mark.skipif(not CASES, reason="tests/data/groundtruth is absent")
@pytest.mark.parametrize("rec", [r for r in CASES if r["kind"] == "train"], ids=lambda r: r["case"])
def test_groundtruth_optimizer_states(rec: dict[str, Any]) -> None:
    """The persistent growth over the first step (after_step − after build) is the optimizer states."""
    spec = spec_from_config(rec["config"], rec["model"])
    est = estimate_training(spec, _workload(rec))
    measured = rec["phases"][0]["after_step"] - rec["alloc_after_build"]
    predicted = est.component("optimizer_states")
    assert predicted == pytest.approx(measured, rel=0.02, abs=64 << 20)


# ----------------------------------------------------------------------------------------------
# against PyTorch itself: the tensors autograd saves in a real forward (tiny models, CPU)

TINY: dict[str, dict[str, Any]] = {
    "llama": dict(model_type="llama", hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=256, max_position_embeddings=128),
    "qwen3": dict(model_type="qwen3", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=32, vocab_size=256,
                  max_position_embeddings=128),
    "qwen2": dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, vocab_size=256, max_position_embeddings=128),
    "gemma2": dict(model_type="gemma2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=256, sliding_window=64,
                   query_pre_attn_scalar=16, max_position_embeddings=128),
    "olmoe": dict(model_type="olmoe", hidden_size=64, intermediate_size=32, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, num_experts=4, num_experts_per_tok=2,
                  vocab_size=256, max_position_embeddings=128),
}


def _saved_per_layer(cfg: dict[str, Any], amp: bool, attn: str, seq: int,
                     lora: tuple[str, ...] | None = None) -> int:
    """Bytes autograd saves for one decoder layer: fp32 weights under bf16 autocast, or bf16 weights."""
    return layer_saved_bytes(cfg, "float32" if amp else "bfloat16", attn, seq, autocast=amp, lora=lora)


@pytest.mark.parametrize("family,amp,attn", [("llama", False, "sdpa"), ("llama", True, "sdpa"),
                                             ("llama", False, "eager"), ("llama", True, "eager"),
                                             ("qwen3", False, "sdpa"), ("qwen3", True, "sdpa"),
                                             ("qwen2", True, "sdpa"), ("gemma2", False, "eager"),
                                             ("gemma2", True, "eager"), ("olmoe", False, "sdpa")])
def test_activations_equal_what_autograd_saves(family: str, amp: bool, attn: str) -> None:
    cfg = TINY[family]
    seq = 64
    measured = _saved_per_layer(cfg, amp, attn, seq)
    spec = spec_from_config(dict(cfg), family)
    wb = 4 if amp else 2
    p = Precision(amp=amp, weight_bytes=wb, resid_bytes=wb, full=True, attn=attn, kv_cache=True)
    la = model_activations(spec, p, 1, seq).layers[0]
    predicted = la.saved + la.weight_casts
    if family == "olmoe":  # routed tokens per expert vary; the sizes still add up to top_k per token
        assert predicted == pytest.approx(measured, rel=0.02)
    else:
        assert predicted == measured


ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.mark.parametrize("family,targets", [("llama", ALL_TARGETS), ("llama", ("q_proj", "v_proj")),
                                            ("olmoe", ALL_TARGETS)])
def test_lora_activations_equal_what_autograd_saves(family: str, targets: tuple[str, ...]) -> None:
    """PEFT's fp32 input casts, frozen Linears that keep nothing, and on MoE experts the merged W + B·A."""
    cfg = TINY[family]
    measured = _saved_per_layer(cfg, False, "sdpa", 64, lora=targets)
    spec = spec_from_config(dict(cfg), family)
    from memfit.memory.lora import adapted_kinds
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=False, lora_kinds=adapted_kinds(spec, targets),
                  lora_rank=4, kv_cache=True)
    predicted = model_activations(spec, p, 1, 64).layers[0].saved
    if family == "olmoe":
        assert predicted == pytest.approx(measured, rel=0.02)
    else:
        assert predicted == measured


def test_training_data_rows_have_sources() -> None:
    import importlib.resources
    import tomllib
    data = tomllib.loads(importlib.resources.files("memfit.data").joinpath("training.toml").read_text())
    for name, row in data.items():
        assert row.get("source"), name
    assert 0 < data["allocator"]["reserve_fraction"] < data["allocator"]["reserve_fraction_checkpointing"] < 1


@pytest.mark.skipif(not CASES, reason="tests/data/groundtruth is absent")
@pytest.mark.parametrize("rec", CASES, ids=lambda r: r["case"])
def test_groundtruth_forward_peak(rec: dict[str, Any]) -> None:
    """The end of the second step's forward (logits, their fp32 copy, log_softmax, autocast's cast cache,
    the DynamicCache) against the measured forward peak."""
    spec = spec_from_config(rec["config"], rec["model"])
    est = estimate_training(spec, _workload(rec))
    base = est.component("weights") + est.component("lora_weights") + est.component("overhead")
    predicted = max(est.details["phases"]["forward (loss)"], est.details["phases"]["forward"]) + base
    assert predicted == pytest.approx(rec["phases"][1]["peak_fwd"], rel=0.01)


def test_gemma4_per_layer_input_path_saved_bytes() -> None:
    """Gemma 4's per-layer input path after the MLP (modeling_gemma4.py, Gemma4TextDecoderLayer), worked out by hand
    for h = 64 and a per-layer width of 16: per_layer_input_gate keeps the stream (bf16: 2·64; under autocast its
    bf16 cast of the fp32 stream, also 2·64), the GELU, the product and per_layer_projection one 16-wide bf16 tensor
    each (3·2·16), post_per_layer_input_norm an fp32 copy of its input and the normed product (4·64 + 4·64): 736 B
    per token. With the weights frozen (LoRA elsewhere) the gate keeps nothing and the norm only its copy: 352 B.
    Gemma 3 has no such path."""
    from memfit.memory.runtimes.transformers_families import block_extras_saved

    cfg = dict(model_type="gemma4_text", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, head_dim=16, vocab_size=256, sliding_window=64,
               max_position_embeddings=128, hidden_size_per_layer_input=16, vocab_size_per_layer_input=256)
    spec = spec_from_config(cfg, "gemma4")
    layer = spec.layers[0]
    assert block_extras_saved(spec, layer, False, 2, 2, True) == 736
    assert block_extras_saved(spec, layer, True, 4, 2, True) == 736
    assert block_extras_saved(spec, layer, False, 2, 2, False) == 352
    gemma3 = spec_from_config(dict(TINY["gemma2"], model_type="gemma3_text"), "gemma3")
    assert block_extras_saved(gemma3, gemma3.layers[0], False, 2, 2, True) == 0
