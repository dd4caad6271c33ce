"""The KV-sharing store layers in the training replay (``training/layer_ops.kv_store_layers``): Gemma 3n's and
Gemma 4's last non-shared layer of each attention type keeps its K and V in the model's ``shared_kv_states``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_ops import StepContext, kv_store_layers
from memfit.memory.training.layer_stream import layer_forward
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec

SIMULATED = Path(__file__).parent / "data" / "simulated"


def _spec(path: str, case: str) -> ModelSpec:
    for line in (SIMULATED / path).read_text().splitlines():
        r: dict[str, Any] = json.loads(line)
        if r.get("case") == case:
            return spec_from_config(r["config"], r["model"])
    raise AssertionError(case)


def test_store_layers_are_the_last_unshared_layer_of_each_type() -> None:
    # gemma4-unified cut to 6 layers: sliding 0-4, full 5, none shared -> 4 and 5 store
    g4 = _spec("families-towers.jsonl", "gemma4-unified-l6/train-bf16-adamw-fused-ckpt-b1-s2048")
    assert kv_store_layers(g4) == frozenset({4, 5})
    # gemma3n cut to 10: sliding 0-3, full 4, then the shared tail 5-9 -> 3 and 4 store
    g3n = _spec("families-towers.jsonl", "gemma3n-l10/train-bf16-adamw-fused-ckpt-b1-s2048")
    assert kv_store_layers(g3n) == frozenset({3, 4})
    # other families store nothing
    llava = _spec("families-new.jsonl", "llava-1.5-7b-hf-l2/train-bf16-adamw-fused-ckpt-b1-s2048")
    assert kv_store_layers(llava) == frozenset()


def test_a_checkpointed_store_layer_leaves_its_k_and_v() -> None:
    """Under checkpointing a layer's first forward keeps nothing, a store layer its K and V: the sliding layer 4 of
    gemma4-unified at 1 × 2,048 tokens, 4 KV heads × 256, bf16: 4 MiB each (as the simulator's trace keeps them)."""
    spec = _spec("families-towers.jsonl", "gemma4-unified-l6/train-bf16-adamw-fused-ckpt-b1-s2048")
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
    acts = model_activations(spec, p, 1, 2048)
    for layer, stores in ((3, False), (4, True)):
        tr = Requested()
        c = StepContext(tr, spec, p, 1, 2048, kv_stores=kv_store_layers(spec), layer=layer)
        x = tr.alloc(2048 * spec.hidden_size * 2)
        run = layer_forward(c, spec.layers[layer], acts.layers[layer], x, keep=False)
        left = {k: n for k, n in tr.live.items() if k not in (x, run.output)}
        assert sorted(left.values()) == ([4 << 20, 4 << 20] if stores else []), layer
        assert sorted(run.stored) == sorted(left)
