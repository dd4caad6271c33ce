"""LoRA under FSDP2 (memory/training/fsdp_lora.py): the rank's shards and gathered layers worked out by hand."""

from __future__ import annotations

from memfit import estimate
from memfit.memory.training.fsdp_lora import lora_moments
from memfit.memory.training.parallel_fsdp import fsdp_layout
from memfit.sources.loader import load_model
from memfit.workload import Workload

# Mistral-7B v0.3: hidden 4096, kv 1024, intermediate 14336, vocab 32768, 32 layers, untied lm_head.
# r = 16 on q/k/v/o/gate/up/down: q, o 16 × (4096 + 4096); k, v 16 × (4096 + 1024); gate, up, down 16 × (4096 + 14336)
ADAPTERS_PER_LAYER = 2 * 131_072 + 2 * 81_920 + 3 * 294_912  # 1,310,720
LAYER = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096  # 218,112,000
ROOT = 2 * 32768 * 4096 + 4096  # embedding, lm_head, final norm


def test_lora_rank_holds_half_the_base_and_adapters() -> None:
    e = estimate("mistral-7b-v0.3", mode="lora", gpus=2, zero=3, batch=1, context=512).to_json()["components"]
    assert e["weights"] == 7_248_023_552 // 2 * 2  # bf16 base, every dim 0 even
    assert e["lora_weights"] == 32 * ADAPTERS_PER_LAYER // 2 * 4  # fp32 adapters
    assert e["optimizer_states"] == 32 * ADAPTERS_PER_LAYER // 2 * 8  # AdamW's two fp32 states


def test_lora_forward_holds_the_root_and_one_layer_twice() -> None:
    spec = load_model("mistral-7b-v0.3")
    wl = Workload(mode="lora", gpus=2, zero=3, batch=1, context=512, mixed_precision=False)
    moments, base, adapters, trainable = lora_moments(spec, wl, fsdp_layout(wl))
    assert trainable == 32 * ADAPTERS_PER_LAYER and adapters == trainable // 2 and base == 7_248_023_552 // 2
    # bf16: the root stays gathered; layer 5's parameters and its flat all-gather output
    assert moments["forward (layer 5)"].gathered == 2 * ROOT + 2 * 2 * (LAYER + ADAPTERS_PER_LAYER)
    # backward: layer 5 and the prefetched layer 4; the frozen base has no gradients, only the adapters'
    b = moments["backward (layer 5)"]
    assert b.gathered == 2 * ROOT + 2 * 2 * (LAYER + ADAPTERS_PER_LAYER)
    assert b.gradients == 26 * ADAPTERS_PER_LAYER // 2 * 4
    assert moments["optimizer step"].gradients == 32 * ADAPTERS_PER_LAYER // 2 * 4
