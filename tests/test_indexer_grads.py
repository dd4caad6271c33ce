"""Every family whose lightning indexer returns only integer top-k indices gets no gradient for the indexer's
parameters in full training, so AdamW keeps no state for them (training/states.py ``indexer_parameter``,
``NO_GRAD_INDEXER``; DeepSeek-V4's own in test_dsv4_indexer_grads.py). transformers 5.25: DeepseekV32Indexer,
GlmMoeDsaIndexer, AXK2Indexer, HYV4Indexer and Dots3NoteTextIndexer end ``index_scores.topk(topk, dim=-1)
.indices.to(torch.int32)``, which the attention reads only to scatter a boolean mask; MiniMaxM3VLIndexer returns
block indices that ``build_block_mask`` turns into a boolean mask. torch's topk differentiates its values alone
(derivatives.yaml ``output_differentiability: [True, False]``), AccumulateGrad never runs, ``.grad`` stays None and
AdamW (optim/adam.py ``_init_group``) skips the parameter."""

from __future__ import annotations

from typing import Any

import pytest

from memfit.memory.fp32_parameters import fp32_kept
from memfit.memory.training.layer_stream import StepContext
from memfit.memory.training.pool import _states, _trainable
from memfit.memory.training.states import inventory, model_states
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload
from test_pool_build import Recorded

# a tiny MLA model with a DeepSeek-V3.2-style indexer: hidden 32, 2 heads, q_lora 8, kv_lora 8, 4 experts of 16,
# indexer 2 heads x 8, vocabulary 64
MLA: dict[str, Any] = {
    "vocab_size": 64,
    "hidden_size": 32,
    "intermediate_size": 48,
    "moe_intermediate_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "kv_lora_rank": 8,
    "q_lora_rank": 8,
    "qk_rope_head_dim": 4,
    "v_head_dim": 8,
    "qk_nope_head_dim": 8,
    "head_dim": 4,
    "index_topk": 8,
    "index_head_dim": 8,
    "index_n_heads": 2,
    "n_group": 1,
    "topk_group": 1,
    "tie_word_embeddings": False,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": None,
}
SHARED = {"num_hidden_layers": 3, "indexer_types": ["full", "shared", "full"]}
# model type, config, the layers with an indexer, one indexer's bytes under bf16 weights
# DSA indexer: wq_b (2 x 8, 8) = 128, wk (8, 32) = 256, LayerNorm(8) weight and bias 16, weights_proj (2, 32) = 64:
# 464 parameters, 928 B in bf16. HY-V4 keeps weights_proj and k_norm in float32 (_keep_in_fp32_modules_strict):
# 384 x 2 + 80 x 4 = 1,088 B. MiniMax-M3's: q_proj (2 x 8, 32) = 512, k_proj (8, 32) = 256, q_norm and k_norm 8
# each: 784 parameters, 1,568 B
CASES: list[tuple[str, dict[str, Any], tuple[int, ...], int]] = [
    ("deepseek_v32", {**MLA, "first_k_dense_replace": 1}, (0, 1), 928),
    ("glm_moe_dsa", {**MLA, **SHARED, "first_k_dense_replace": 1}, (0, 2), 928),
    ("axk2", MLA, (0, 1), 928),
    ("hy_v4", {**MLA, **SHARED, "head_dim": 16, "hc_mult": 2}, (0, 2), 1_088),
    ("dots3_note_text", MLA, (0, 1), 928),
    (
        "minimax_m3_vl_text",
        {
            "vocab_size": 64,
            "hidden_size": 32,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "num_local_experts": 4,
            "num_experts_per_tok": 2,
            "dense_intermediate_size": 48,
            "shared_intermediate_size": 16,
            "rotary_dim": 8,
            "index_n_heads": 2,
            "index_head_dim": 8,
            "index_block_size": 8,
            "index_topk_blocks": 2,
            "layer_types": ["minimax_m3_sparse", "minimax_m3_sparse"],
        },
        (0, 1),
        1_568,
    ),
]
# the indexer's parameters per family (transformers' names)
DSA = ("wq_b.weight", "wk.weight", "k_norm.weight", "k_norm.bias", "weights_proj.weight")
M3 = ("q_proj.weight", "k_proj.weight", "q_norm.weight", "k_norm.weight")


def _config(model_type: str, kw: dict[str, Any]) -> dict[str, Any]:
    transformers = pytest.importorskip("transformers")
    out: dict[str, Any] = transformers.CONFIG_MAPPING[model_type](**kw).to_dict()
    return out


@pytest.mark.parametrize(("model_type", "kw", "layers", "per_layer"), CASES, ids=[c[0] for c in CASES])
def test_indexer_has_no_gradient_and_no_adamw_state(
    model_type: str, kw: dict[str, Any], layers: tuple[int, ...], per_layer: int
) -> None:
    """By hand (bf16 full training): the gradients are the indexers' bytes under the weights (two indexer layers:
    1,856 B; HY-V4 2,176 B; MiniMax-M3 3,136 B), AdamW's states twice the gradients, and the pool trains none of the
    indexer's parameters. The old code gave them gradients and states: weights = gradients."""
    spec = spec_from_config(_config(model_type, kw))
    wl = Workload(mode="train", batch=1, context=256, mixed_precision=False)
    full = model_states(spec, wl)
    assert full.weights - full.gradients == len(layers) * per_layer
    assert full.optimizer.state_bytes == 2 * full.gradients
    tr = Recorded()
    params = _trainable(StepContext(tr, spec, full.precision, 1, 256), wl, full)
    _states(tr, full, params)
    assert sum(tr.sizes) == full.optimizer.state_bytes
    # the layers' gradients leave out exactly their indexer; a shared-indexer layer (glm_moe_dsa, hy_v4 layer 1)
    # has none and keeps all its gradients
    per = {t.layer: 0 for t in inventory(spec) if t.layer is not None}
    for t in inventory(spec):
        if t.layer is not None:
            per[t.layer] += t.numel * (4 if full.fp32_kept and fp32_kept(model_type, t.name) else 2)
    assert full.layer_grads == tuple(per[i] - (per_layer if i in layers else 0) for i in sorted(per))


@pytest.mark.parametrize(("model_type", "kw", "layers", "per_layer"), CASES, ids=[c[0] for c in CASES])
def test_transformers_gives_the_indexer_no_gradient(
    model_type: str, kw: dict[str, Any], layers: tuple[int, ...], per_layer: int
) -> None:
    """transformers' own tiny model, one forward and backward on the CPU (96 tokens): exactly the indexers'
    parameters have no ``.grad``, and they are the parameters memfit leaves without a gradient."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    conf = transformers.CONFIG_MAPPING[model_type](**kw)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(conf)
    ids = torch.randint(0, 64, (1, 96))
    model(input_ids=ids, labels=ids).loss.backward()
    no_grad = {n: p.numel() for n, p in model.named_parameters() if p.grad is None}
    names = M3 if model_type.startswith("minimax") else DSA
    assert sorted(no_grad) == sorted(f"model.layers.{i}.self_attn.indexer.{n}" for i in layers for n in names)
    assert sum(no_grad.values()) == len(layers) * (784 if model_type.startswith("minimax") else 464)
    spec = spec_from_config(conf.to_dict())
    full = model_states(spec, Workload(mode="train", batch=1, context=96, mixed_precision=False))
    assert full.trainable == sum(p.numel() for p in model.parameters()) - sum(no_grad.values())


# LoRA (r 4) on the indexers' Linears too: PEFT matches target names by suffix, so q_proj / k_proj also adapt
# MiniMax-M3's indexer.q_proj / indexer.k_proj; lora_B(lora_A(x)) joins an output that reaches the loss only as
# integer indices, so those factors get no gradient and no AdamW state (states._idle_factor)
# DeepSeek-V3.2 (q_b_proj, wq_b, wk, o_proj), per layer: q_b_proj (24, 8) 4 x 8 + 24 x 4 = 128, o_proj (32, 16)
# 64 + 128 = 192 train; the indexer's wq_b (16, 8) 32 + 64 = 96 and wk (8, 32) 128 + 32 = 160 do not
# MiniMax-M3 (q_proj, k_proj, v_proj, o_proj), per layer: the attention's four (32, 32) 256 each train; the indexer's
# q_proj (16, 32) 128 + 64 = 192 and k_proj (8, 32) 128 + 32 = 160 do not
LORA: list[tuple[str, tuple[str, ...], int, int]] = [
    ("deepseek_v32", ("q_b_proj", "wq_b", "wk", "o_proj"), 2 * (128 + 192), 2 * (96 + 160)),
    ("minimax_m3_vl_text", ("q_proj", "k_proj", "v_proj", "o_proj"), 2 * 4 * 256, 2 * (192 + 160)),
]


@pytest.mark.parametrize(("model_type", "targets", "trained", "idle"), LORA, ids=[c[0] for c in LORA])
def test_lora_factors_on_the_indexer_get_no_gradient(
    model_type: str, targets: tuple[str, ...], trained: int, idle: int
) -> None:
    """By hand: every factor is built (fp32 weights of trained + idle elements), the indexer's train not (gradients
    and AdamW's states for ``trained`` elements only); the pool trains the same factors. The old code trained all:
    trainable = trained + idle."""
    kw = next(c[1] for c in CASES if c[0] == model_type)
    spec = spec_from_config(_config(model_type, kw))
    wl = Workload(mode="lora", batch=1, context=96, lora_rank=4, lora_targets=targets)
    st = model_states(spec, wl)
    assert (st.lora, st.trainable, st.gradients) == (4 * (trained + idle), trained, 4 * trained)
    assert st.optimizer.state_bytes == 2 * 4 * trained
    tr = Recorded()
    params = _trainable(StepContext(tr, spec, st.precision, 1, 96), wl, st)
    assert sum(n for _layer, _kind, n, _m in params) == trained
    _states(tr, st, params)
    assert sum(tr.sizes) == st.optimizer.state_bytes


@pytest.mark.parametrize(("model_type", "targets", "trained", "idle"), LORA, ids=[c[0] for c in LORA])
def test_peft_gives_the_indexer_factors_no_gradient(
    model_type: str, targets: tuple[str, ...], trained: int, idle: int
) -> None:
    """PEFT's LoRA on transformers' tiny model, one forward and backward on the CPU: the factors without ``.grad``
    are exactly the indexer's, ``idle`` elements of ``trained + idle`` requiring grad."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    conf = transformers.CONFIG_MAPPING[model_type](**next(c[1] for c in CASES if c[0] == model_type))
    torch.manual_seed(0)
    model = peft.get_peft_model(
        transformers.AutoModelForCausalLM.from_config(conf), peft.LoraConfig(r=4, target_modules=list(targets))
    )
    ids = torch.randint(0, 64, (1, 96))
    model(input_ids=ids, labels=ids).loss.backward()
    factors = {n: p for n, p in model.named_parameters() if p.requires_grad}
    no_grad = {n: p.numel() for n, p in factors.items() if p.grad is None}
    assert sum(p.numel() for p in factors.values()) == trained + idle
    assert sum(no_grad.values()) == idle
    assert all(".indexer." in n for n in no_grad)


# the two families whose indexer memfit prices only inside their image-text model (text alone: the vision tower
# and projector get no gradient either, states._full's vision rule). Mistral Large 4's indexer, per layer: wq_b
# (2 x 8, 32) 512 (queries from the hidden states: no Q-LoRA), wk (8, 32) 256, k_norm 16, weights_proj (2, 32) 64,
# q_input_norm (LayerNorm(32)) 64, softmax_scaling scale and bias 2 + 2: 916 parameters. HY-V4-VL's as HY-V4's: 464
VL: list[tuple[str, dict[str, Any], tuple[int, ...], int]] = [
    (
        "mistral_large4",
        {
            "text_config": {**MLA, "first_k_dense_replace": 1, "model_type": "mistral_large4_text"},
            "vision_config": {
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "head_dim": 8,
                "image_size": 32,
                "patch_size": 8,
            },
        },
        (0, 1),
        916,
    ),
    (
        "hy_v4_vl",
        {
            "text_config": {
                **MLA,
                **SHARED,
                "head_dim": 16,
                "hc_mult": 2,
                "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [1, 1, 0]},
            },
            "vision_config": {
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "out_hidden_size": 32,
            },
        },
        (0, 2),
        464,
    ),
]


@pytest.mark.parametrize(("model_type", "kw", "layers", "per_layer"), VL, ids=[c[0] for c in VL])
def test_image_text_families_indexer(
    model_type: str, kw: dict[str, Any], layers: tuple[int, ...], per_layer: int
) -> None:
    """By hand: the text layers' gradients leave out exactly their indexer's parameters (``per_layer`` elements in each
    layer with its own indexer, at their weights' width); and transformers' own model (``*ForConditionalGeneration``,
    text alone, one forward and backward on the CPU) leaves exactly the indexers, the vision tower and the projector
    without ``.grad``, which memfit's trainable count matches. The old code gave the indexers gradients."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    conf = transformers.CONFIG_MAPPING[model_type](**kw)
    spec = spec_from_config(conf.to_dict())
    full = model_states(spec, Workload(mode="train", batch=1, context=96, mixed_precision=False))
    width = {t.name: 4 if full.fp32_kept and fp32_kept(spec.family, t.name) else 2 for t in inventory(spec)}
    per = {t.layer: 0 for t in inventory(spec) if t.layer is not None}
    idx = dict.fromkeys(per, 0)
    for t in inventory(spec):
        if t.layer is not None:
            per[t.layer] += t.numel * width[t.name]
            idx[t.layer] += t.numel if ".indexer." in t.name else 0
    assert [idx[i] for i in sorted(idx)] == [per_layer if i in layers else 0 for i in sorted(idx)]
    lost = {
        i: sum(t.numel * width[t.name] for t in inventory(spec) if t.layer == i and ".indexer." in t.name) for i in per
    }
    assert full.layer_grads == tuple(per[i] - lost[i] for i in sorted(per))
    module = __import__(type(conf).__module__.replace("configuration_", "modeling_"), fromlist=["_"])
    cls = next(getattr(module, n) for n in dir(module) if n.endswith("ForConditionalGeneration"))
    torch.manual_seed(0)
    model = cls(conf)
    ids = torch.randint(0, 64, (1, 96))
    model(input_ids=ids, labels=ids).loss.backward()
    no_grad = {n: p.numel() for n, p in model.named_parameters() if p.grad is None}
    indexer = {n for n in no_grad if ".indexer." in n}
    assert {n for n in no_grad if n not in indexer} == {
        n for n, _p in model.named_parameters() if "vision_tower" in n or "multi_modal_projector" in n
    }
    assert sum(no_grad[n] for n in indexer) == len(layers) * per_layer
    assert full.trainable == sum(p.numel() for p in model.parameters()) - sum(no_grad.values())
