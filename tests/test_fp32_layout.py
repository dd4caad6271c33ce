"""The pools' model build lays each parameter tensor out at its own size and dtype (allocator_trace.block_bytes), as
transformers 5.25 allocates them: one tensor per parameter (core_model_loading.py convert_and_load_state_dict_in_model,
_materialize_copy's ``tensor.to(device, dtype)``; from_config: the modules' constructors), the entries of
``_keep_in_fp32_modules_strict`` in float32 (data/fp32_parameters.toml). Before, the pools spread the weights' bytes
evenly over the blocks, so a 4-byte router made every block a little wider and itself half its size."""

from __future__ import annotations

from typing import Any

import pytest

from memfit.memory.allocator_trace import CUBLAS_WORKSPACE, Block, block_bytes
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.memory.training.layer_stream import StepContext
from memfit.memory.training.pool import _build, _states, _trainable
from memfit.memory.training.states import model_states
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload
from test_pool_build import Recorded

# a tiny GLM-4.5 (glm4_moe): hidden 16, 2 layers (the first dense, intermediate 32), 4 routed experts of width 8
# and one shared, 2 heads of 8 (1 KV head), vocabulary 64, untied
TINY: dict[str, Any] = {
    "model_type": "glm4_moe",
    "vocab_size": 64,
    "hidden_size": 16,
    "intermediate_size": 32,
    "moe_intermediate_size": 8,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 8,
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "num_experts_per_tok": 2,
    "first_k_dense_replace": 1,
    "n_group": 1,
    "topk_group": 1,
    "tie_word_embeddings": False,
}
# bf16 bytes of each block in memfit's order: embedding 64 × 16 × 2; layer 0: two norms 16 × 2, q 16 × 16 × 2, k and
# v 8 × 16 × 2, o 512, the dense MLP's gate / up / down 32 × 16 × 2; layer 1: norms, attention, the router's
# 4 × 16 in float32 (× 4 = 256), the experts' gate / up / down 4 × 8 × 16 × 2, the shared expert's 8 × 16 × 2; final
# norm; lm_head 64 × 16 × 2. 7,120 bf16 parameters + 64 fp32: 14,496 B
TINY_BLOCKS = [
    2048,
    32,
    32,
    512,
    256,
    256,
    512,
    1024,
    1024,
    1024,
    32,
    32,
    512,
    256,
    256,
    512,
    256,
    1024,
    1024,
    1024,
    256,
    256,
    256,
    32,
    2048,
]


def test_block_bytes_by_hand() -> None:
    blocks = [
        Block(0, 1000, True, "attention"),
        Block(0, 128, True, "experts", "ffn_gate_inp", fp32=True),
        Block(None, 16, False, "norms"),
    ]
    # 1,016 bf16 parameters × 2 + 128 fp32 × 4 = 2,544 B: each block at its own dtype
    assert block_bytes(blocks, 2544) == [2000, 512, 32]
    # a quantized format (not dense): the bytes spread in proportion, 2,544 × 1,000 // 1,144 etc.
    assert block_bytes(blocks, 2544, dense=False) == [2223, 284, 35]


def test_inference_build_each_tensor_at_its_dtype() -> None:
    spec = spec_from_config(TINY)
    w = weights_breakdown(spec, "bfloat16")
    assert (w.params_by_type, w.total_bytes) == ({"BF16": 7120, "F32": 64}, 14_496)
    tr = Recorded()
    build_inference_weights(tr, spec, w.total_bytes, 2)
    # the old even spread gave the router 64 × 14,496 // 7,184 = 129 B and q 516 B
    assert tr.sizes == [CUBLAS_WORKSPACE, *TINY_BLOCKS]


def test_sizes_are_transformers_own() -> None:
    """The same sizes as transformers' bf16 build on the meta device (the fused gate_up_proj split in its halves)."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    conf = transformers.CONFIG_MAPPING["glm4_moe"](**{k: v for k, v in TINY.items() if k != "model_type"})
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(conf, dtype=torch.bfloat16)
    sizes: list[int] = []
    for name, p in model.named_parameters():
        nbytes = p.numel() * p.element_size()
        sizes += [nbytes // 2] * 2 if name.endswith("gate_up_proj") else [nbytes]
    assert sorted(sizes) == sorted(TINY_BLOCKS)


def test_training_build_lora_at_dtype() -> None:
    """LoRA's frozen bf16 weights count the router at 4 B (training/states.py), so its build lays it out at 4 B."""
    spec = spec_from_config(TINY)
    lora = Workload(mode="lora", batch=1, context=8)
    states = model_states(spec, lora)
    assert (states.weights, states.fp32_kept) == (14_496, True)
    tr = Recorded()
    _build(tr, StepContext(tr, spec, states.precision, 1, 8), states.weights, 2, False, fp32_kept=states.fp32_kept)
    assert tr.sizes == [CUBLAS_WORKSPACE, CUBLAS_WORKSPACE, *TINY_BLOCKS]


def test_full_bf16_training_keeps_the_router_float32() -> None:
    """Full bf16 training: the router stays float32 (Glm4MoeTopkRouter builds it so; from_config and from_pretrained
    keep it), its gradient is float32 (AccumulateGrad: ``.grad`` takes the parameter's dtype) and so are AdamW's two
    states (torch 2.13 optim/adamw.py ``_init_group``: ``torch.zeros_like(p)``). By hand: weights 7,120 × 2 + 64 × 4 =
    14,496 B, gradients the same, AdamW 2 × 14,496 = 28,992 B; layer 0's gradients 2 × 32 + 512 + 2 × 256 + 512 +
    3 × 1,024 = 4,672 B, layer 1's 2 × 32 + 512 + 2 × 256 + 512 + 256 (the router) + 3 × 1,024 + 3 × 256 = 5,696 B,
    the head's final norm 32 + lm_head 2,048, the embedding's 2,048. The old code priced every one at 2 B: weights
    and gradients 14,368 B, AdamW 28,736 B, layer 1's gradients 5,568 B."""
    spec = spec_from_config(TINY)
    wl = Workload(mode="train", batch=1, context=8, mixed_precision=False)
    full = model_states(spec, wl)
    assert (full.weights, full.fp32_kept, full.gradients, full.optimizer.state_bytes) == (14_496, True, 14_496, 28_992)
    assert (full.layer_grads, full.head_grads, full.embedding_grads) == ((4_672, 5_696), 2_080, 2_048)
    tr = Recorded()
    c = StepContext(tr, spec, full.precision, 1, 8)
    _build(tr, c, full.weights, 2, False, fp32_kept=full.fp32_kept)
    assert tr.sizes == [CUBLAS_WORKSPACE, CUBLAS_WORKSPACE, *TINY_BLOCKS]
    # the pool's states, one per parameter and moment: the router's 64 float32 elements take 256 B each
    params = _trainable(c, wl, full)
    assert [x[2] for x in params if x[1] == "ffn_gate_inp"] == [128]
    tr = Recorded()
    _states(tr, full, params)
    assert sum(tr.sizes) == 28_992
    assert tr.sizes[2 * [x[1] for x in params].index("ffn_gate_inp") :][:2] == [256, 256]
    # mixed precision: every parameter float32 already (master weights), nothing more
    amp = model_states(spec, Workload(mode="train", batch=1, context=8, mixed_precision=True))
    assert (amp.weights, amp.gradients, amp.optimizer.state_bytes) == (28_736, 28_736, 57_472)
