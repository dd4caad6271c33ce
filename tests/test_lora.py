"""LoRA / QLoRA: trainable parameters exactly (by hand from the architecture), targets, QLoRA base bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit import estimate
from memfit.errors import ConfigError
from memfit.memory.lora import adapted_tensors, lora_parameters, target_kinds
from memfit.sources.loader import load_model

ALL = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_llama_3_1_8b_r16_all_linear() -> None:
    # per layer: q (4096+4096), k (4096+1024), v (4096+1024), o (4096+4096), gate/up/down 3 × (4096+14336)
    per_layer = 16 * (2 * (4096 + 4096) + 2 * (4096 + 1024) + 3 * (4096 + 14336))
    assert per_layer == 1_310_720
    assert lora_parameters(load_model("llama-3.1-8b"), 16, ALL) == 32 * per_layer == 41_943_040


def test_llama_2_7b_r8_q_v() -> None:
    # formulas.md §5.6: 32 · 8 · (4096 + 4096) · 2 = 4,194,304 (PEFT's printed count)
    assert lora_parameters(load_model("llama-2-7b-hf"), 8, ("q_proj", "v_proj")) == 4_194_304


def test_gpt2_module_names() -> None:
    spec = load_model("gpt2")
    # c_attn (768 → 2304) and both c_proj (768 → 768, 3072 → 768) on 12 layers, r = 8
    expected = 12 * 8 * ((768 + 2304) + (768 + 768) + (3072 + 768))
    assert lora_parameters(spec, 8, ("c_attn", "c_proj")) == expected


def test_targets() -> None:
    assert target_kinds(["q_proj", "lm_head"]) == {"attn_q", "output"}
    assert "ffn_down" in target_kinds(["all-linear"])
    assert not any(t.kind == "output" for t in adapted_tensors(load_model("llama-3.2-1b"), ["all-linear"]))
    with pytest.raises(ConfigError):
        target_kinds(["not_a_module"])


def test_lora_estimate_components() -> None:
    e = estimate("llama-3.1-8b", mode="lora", batch=1, context=2048, lora_rank=16, checkpointing="full",
                 mixed_precision=False)
    j = e.to_json()
    n = 41_943_040
    assert j["components"]["lora_weights"] == 4 * n  # fp32 adapters
    assert j["components"]["optimizer_states"] == 8 * n  # AdamW m, v in fp32
    assert j["components"]["weights"] == 2 * 8_030_261_248  # frozen bf16 base
    assert e.details["trainable_parameters"] == n


def test_qlora_base_bytes_by_hand() -> None:
    """NF4 + double quantization of every block Linear (block 64, absmax uint8 with a fp32 scale per 256
    blocks, per tensor 4 B offset + 256 fp32 nested code + 16 fp32 NF4 code); every other parameter fp32
    after prepare_model_for_kbit_training."""
    spec = load_model("llama-3.1-8b")
    shapes = [(4096, 4096), (1024, 4096), (1024, 4096), (4096, 4096), (14336, 4096), (14336, 4096), (4096, 14336)]
    per_layer = 0
    for out, inp in shapes:
        n = out * inp
        blocks = -(-n // 64)
        per_layer += n // 2 + blocks + 4 * -(-blocks // 256) + 4 + 4 * 256 + 4 * 16
    other = 8_030_261_248 - 32 * sum(o * i for o, i in shapes)
    e = estimate(spec, mode="qlora", batch=1, context=512, checkpointing="full", mixed_precision=False)
    assert e.component("weights") == 32 * per_layer + 4 * other


def test_phi3_default_targets_match_module_names_like_peft() -> None:
    """Phi-3 fuses qkv_proj and gate_up_proj: the default names match only o_proj and down_proj
    (PEFT matches module-name suffixes, so up_proj does not adapt gate_up_proj)."""
    spec = load_model("phi-3.5-mini-instruct")
    per_layer = 16 * ((3072 + 3072) + (8192 + 3072))
    assert lora_parameters(spec, 16, ALL) == 32 * per_layer
    fused = 16 * ((3072 + 3 * 3072) + (3072 + 2 * 8192))
    assert lora_parameters(spec, 16, ("qkv_proj", "gate_up_proj")) == 32 * fused


def test_moe_experts_adapted_like_peft_param_wrapper() -> None:
    """OLMoE-1B-7B (h 2048, 64 experts of I 1024, 16 layers), r = 16, default targets: PEFT 0.21 wraps the
    fused experts: gate_up_proj rank 2r per expert (A 2r·E × h, B 2I × 2r·E), down_proj rank r
    (A r·E × I, B h × r·E), plus q, k, v, o (2048 → 2048 each)."""
    from memfit.sources.hf_config import spec_from_config
    cfg = {"model_type": "olmoe", "hidden_size": 2048, "intermediate_size": 1024, "num_hidden_layers": 16,
           "num_attention_heads": 16, "num_key_value_heads": 16, "num_experts": 64, "num_experts_per_tok": 8,
           "vocab_size": 50304, "max_position_embeddings": 4096}
    spec = spec_from_config(cfg, "olmoe")
    r, e, h, inter = 16, 64, 2048, 1024
    attention = 4 * r * (h + h)
    gate_up = 2 * r * e * h + 2 * inter * 2 * r * e
    down = r * e * inter + h * r * e
    assert lora_parameters(spec, r, ALL) == 16 * (attention + gate_up + down) == 188_743_680
    with pytest.raises(ConfigError):
        lora_parameters(spec, r, ("q_proj", "gate_proj"))


# GLM-4-MoE cut small (transformers' glm4_moe): 3 layers, h 64, 4 heads × 16 (2 KV heads), layer 0 dense (I 160),
# layers 1-2 MoE: 8 experts of I 32 and one shared expert of I 32
_TINY_GLM4_MOE = {"model_type": "glm4_moe", "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 3,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 100,
                  "n_routed_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "first_k_dense_replace": 1, "n_shared_experts": 1}


def test_moe_lora_layout_follows_the_peft_release() -> None:
    """r 4, the default targets. Attention per layer: q 4·(64 + 64), k and v 4·(64 + 32), o 4·(64 + 64) = 1,792.
    Experts per MoE layer (ParamWrapper): gate_up A (2·4·8, 64) + B (2·32, 2·4·8) = 4,096 + 4,096, down
    A (4·8, 32) + B (64, 4·8) = 1,024 + 2,048: 11,264. PEFT 0.21 moves gate/up/down_proj to the experts alone:
    3·1,792 + 2·11,264 = 27,904. PEFT 0.22 keeps them on the Linears too: layer 0's MLP 3·4·(64 + 160) = 2,688 and
    each shared expert 3·4·(64 + 32) = 1,152: 27,904 + 2,688 + 2·1,152 = 32,896. ``all-linear`` adds each router
    (ParamWrapper on gate.weight (8, 64)): 4·(64 + 8) = 288 per MoE layer, in both."""
    from memfit.sources.hf_config import spec_from_config

    spec = spec_from_config(_TINY_GLM4_MOE, "glm4-moe-tiny")
    attention, experts = 4 * (64 + 64) + 2 * 4 * (64 + 32) + 4 * (64 + 64), 4096 + 4096 + 1024 + 2048
    assert attention == 1792 and experts == 11_264
    assert lora_parameters(spec, 4, ALL, "0.21") == 3 * attention + 2 * experts == 27_904
    assert lora_parameters(spec, 4, ALL, "0.22") == 27_904 + 3 * 4 * (64 + 160) + 2 * 3 * 4 * (64 + 32) == 32_896
    assert lora_parameters(spec, 4, ALL) == 32_896  # the default: the current release
    assert lora_parameters(spec, 4, ["all-linear"], "0.21") == 27_904 + 2 * 4 * (64 + 8) == 28_480
    assert lora_parameters(spec, 4, ["all-linear"], "0.22") == 32_896 + 2 * 4 * (64 + 8) == 33_472
    # the estimate: adapters, their gradients and AdamW's two moments all in fp32, for the release asked
    for release, n in (("0.21", 27_904), ("0.22", 32_896)):
        e = estimate(_TINY_GLM4_MOE, mode="lora", lora_rank=4, batch=1, context=64, peft_version=release)
        assert e.component("lora_weights") == 4 * n
    with pytest.raises(ConfigError):
        lora_parameters(spec, 4, ALL, "0.20")


def test_peft_release_of_options_and_case_files(tmp_path: Path) -> None:
    """--peft-version's choices are the layouts lora.py prices; a case file's PEFT (``params.peft``, else its env
    line) picks the layout its cases are priced with: the simulated files of peft 0.21.2 keep 0.21's."""
    from memfit.memory.lora import PEFT_LAYOUTS
    from memfit.options import declared
    from memfit.validate import validate_file, workload_for_case

    opt = next(o for o in declared() if o.name == "peft_version")
    assert opt.choices == PEFT_LAYOUTS and opt.default == PEFT_LAYOUTS[0] == "0.22"
    base = {"batch": 1, "seq": 8, "r": 4}
    assert workload_for_case("lora", {**base, "peft": "0.21.2"}).peft_version == "0.21"
    assert workload_for_case("lora", {**base, "peft": "0.22.0"}).peft_version == "0.22"
    assert workload_for_case("lora", base).peft_version == "0.22"
    with pytest.raises(ConfigError):
        workload_for_case("lora", {**base, "peft": "main"})
    predicted = {}
    for name, env, params in (("0.21", "0.21.2", base), ("0.22", "0.22.0", base),
                              ("stated", "0.22.0", {**base, "peft": "0.21.2"}), ("none", None, base)):
        case = {"case": "tiny", "model": "tiny", "kind": "lora", "config": _TINY_GLM4_MOE, "params": params,
                "peak_alloc": 10**9}
        path = tmp_path / f"{name}.jsonl"
        path.write_text((json.dumps({"env": {"peft": env}}) + "\n" if env else "") + json.dumps(case) + "\n")
        predicted[name] = validate_file(path)[0][0].predicted_bytes
    assert predicted["stated"] == predicted["0.21"] < predicted["0.22"] == predicted["none"]


def test_merged_expert_weights_leave_with_their_node_in_the_pool_replay() -> None:
    """GLM-4.5-Air cut to 2 layers (layer 1: 128 experts of I 1,408, h 4,096), LoRA r 8 on the default targets:
    the pool replay's allocated peak within 1 % of the step's. Each forward merges W + B·A for gate_up (128 · 2,816 ·
    4,096 · 2 B = 2.95 GB) and down (1.48 GB); the simulator's trace (peft22-dev.jsonl) frees the merged down weight
    and its gradient before gate_up's gradient is made. Holding both till the layer's saved tensors die put the replay's
    allocated peak 2.6 GB above the step's (17.66 vs 15.12 GB) and the reserve that much short."""
    from memfit.memory.model_activations import model_activations
    from memfit.memory.training.pool import training_pool
    from memfit.memory.training.states import model_states
    from memfit.sources.hf_config import spec_from_config
    from memfit.workload import Workload

    path = Path(__file__).resolve().parents[1] / "src/memfit/data/models/glm-4.5-air.json"
    spec = spec_from_config({**json.loads(path.read_text()), "num_hidden_layers": 2}, "glm-4.5-air-l2")
    assert spec.layers[1].moe is not None and 128 * 2 * 1408 * 4096 * 2 == 2_952_790_016
    wl = Workload(mode="lora", batch=1, context=1024, lora_rank=8, mixed_precision=False).validate()
    states = model_states(spec, wl)
    acts = model_activations(spec, states.precision, 1, 1024)
    replay = training_pool(spec, wl, states, acts)
    step = estimate(spec, mode="lora", batch=1, context=1024, lora_rank=8, mixed_precision=False)
    assert abs(replay.peak_allocated / step.allocated_bytes - 1) < 0.01  # 15.15 vs 15.12 GB (17.66 before)
