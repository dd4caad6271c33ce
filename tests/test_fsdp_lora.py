"""LoRA under FSDP2 (memory/training/fsdp_lora.py): the rank's shards and gathered layers worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit import estimate
from memfit.memory.allocator_trace import PoolFigures
from memfit.memory.training.fsdp_lora import adapter_groups, lora_moments
from memfit.memory.training.fsdp_lora_pool import lora_pool
from memfit.memory.training.fsdp_streams import COPY_IN, REDUCE, StreamTrace
from memfit.memory.training.parallel_fsdp import fsdp_layout
from memfit.sources.loader import load_model
from memfit.validate import validate_file
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


def test_adapter_groups_pad_dim_0_per_tensor() -> None:
    """lora_A (16, in) and lora_B (out, 16) as FSDP parameters on 3 ranks: dim 0 padded to a multiple of 3."""
    spec = load_model("mistral-7b-v0.3")
    wl = Workload(mode="lora", gpus=3, zero=3, batch=1, context=512)
    groups = adapter_groups(spec, wl, 3)
    assert len(groups) == 33 and groups[-1] == ()  # 32 layers, then the root (no adapter on the lm_head)
    layer = groups[0]
    assert sum(p.local for p in layer) == ADAPTERS_PER_LAYER
    # every lora_A: 16 rows -> 6 per rank (18 gathered); lora_B: out rows (4096, 1024, 14336) -> ceil(out / 3)
    a_in = 2 * 4096 + 2 * 4096 + 2 * 4096 + 14336  # q, k, v, o, gate, up read 4096 features; down reads 14336
    b_rows = 4096 + 1024 + 1024 + 4096 + 14336 + 14336 + 4096
    assert sum(p.sharded for p in layer) == 6 * a_in + sum(-(-o // 3) * 16 for o in (
        4096, 1024, 1024, 4096, 14336, 14336, 4096))
    assert sum(p.gathered for p in layer) == 18 * a_in + sum(-(-o // 3) * 3 * 16 for o in (
        4096, 1024, 1024, 4096, 14336, 14336, 4096))
    assert b_rows * 16 + 16 * a_in == ADAPTERS_PER_LAYER


def test_lora_replay_matches_the_simulated_streams(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The replay's all-gather copy-in and reduce-scatter pools against the simulator's per-stream reserved bytes
    (``reserved_by_stream``) on the LoRA development cases of tests/data/parallel/dev.jsonl: within 1 %."""
    src = Path(__file__).parent / "data" / "parallel" / "dev.jsonl"
    rows = [line for line in src.read_text().splitlines() if '"kind": "lora"' in line]
    assert len(rows) == 5
    pools: list[dict[str, int]] = []
    figures = StreamTrace.figures

    def spy(self: StreamTrace) -> PoolFigures:
        pools.append({k: p.reserved for k, p in self.pools.items()})
        return figures(self)

    monkeypatch.setattr(StreamTrace, "figures", spy)
    lora_pool.cache_clear()
    for line in rows:
        case = tmp_path / "case.jsonl"
        case.write_text(line + "\n")
        pools.clear()
        validate_file(case)
        assert len(pools) == 1
        sim = json.loads(line)["reserved_by_stream"]
        assert abs(pools[0][COPY_IN] / sim["side stream 1"] - 1) < 0.01
        assert abs(pools[0][REDUCE] / sim["side stream 2"] - 1) < 0.01
