"""A vision tower that trains on the images, in the training replay (``memory/training/tower.py``): its parameter
tensors as transformers makes them, and what the replayed tower keeps and makes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.images import tower_tensors, tower_training_saved
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.tower import tower_backward, tower_forward
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.workload import Workload

DATA = Path(__file__).parent / "data"
NEW = json.loads((DATA / "families" / "new_configs.json").read_text())
MODELS = Path(__file__).parents[1] / "src" / "memfit" / "data" / "models"


def _config(name: str) -> dict[str, Any]:
    if name in NEW:
        cfg: dict[str, Any] = NEW[name]["config"]
        return cfg
    raw: dict[str, Any] = json.loads((MODELS / f"{name}.json").read_text())
    return raw


@pytest.mark.parametrize("name", ["qwen2.5-vl-7b-instruct", "qwen3-vl-4b-instruct", "llava-1.5-7b-hf",
                                  "llama-3.2-11b-vision"])
def test_tower_tensors_are_the_towers_parameters_in_module_order(name: str) -> None:
    """Exact, against the image-text model transformers builds on the meta device: the tower's (and LLaVA's
    projector's) parameters, one tensor each, in the order ``named_parameters`` (and the build) makes them."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import build_meta

    cfg = _config(name)
    model = build_meta(cfg)
    inner = model.model
    tower = getattr(inner, "visual", None) or getattr(inner, "vision_model", None) or inner.vision_tower
    numels = [p.numel() for p in tower.parameters()]
    if hasattr(inner, "multi_modal_projector"):
        numels += [p.numel() for p in inner.multi_modal_projector.parameters()]
    spec = spec_from_config(cfg, name)
    assert spec.vision is not None
    before, block, after = tower_tensors(spec.vision, spec.hidden_size)
    ours = [*before, *(block * spec.vision.num_layers), *after]
    if spec.vision.kind == "clip":  # the projector's linear_1 weight and biases are one tensor here (same bytes)
        assert sum(ours) == sum(numels) and ours[:-2] == numels[:len(ours) - 2]
    elif spec.vision.kind == "mllama":  # the tile tables and gates are one tensor here; every local block exact
        # (``parameters()`` lists the class embedding, the model's own parameter, before the patch convolution that
        # ``__init__`` makes first, the order the build allocates them in)
        assert sum(ours) == sum(numels) and ours[-1] == numels[-2] + numels[-1]  # the projector, bias with it
        assert sorted(ours[:3]) == sorted([numels[0], numels[1], numels[3]])
        assert list(block) == [p.numel() for p in tower.transformer.layers[0].parameters()]
    else:
        assert ours == numels


def _spec(name: str) -> ModelSpec:
    return spec_from_config(_config(name), name)


def test_replayed_tower_keeps_what_the_step_counts_and_makes_every_gradient() -> None:
    """The replayed tower's forward keeps exactly ``images.tower_training_saved`` (each checkpointed block's input,
    1 × 4,096 patches × 1,152 × 2 B for Qwen3-VL at 1,024² px, and the rest as one tensor); its backward frees it
    all and makes one gradient per tower tensor above 1 MiB, adding up to the tower's bf16 gradient bytes."""
    spec = _spec("qwen3-vl-4b-instruct")
    v = spec.vision
    assert v is not None
    wl = Workload(mode="train", batch=1, context=1024 + 1024, images=1, checkpointing="full")
    saved = tower_training_saved(spec, wl, 2)
    tr = Requested()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), 1, wl.context)
    run = tower_forward(c, 1, saved, True)
    assert tr.requested == saved
    assert [tr.live[k] for k in run.blocks] == [4096 * v.hidden_size * 2] * v.num_layers
    tower_backward(c, run, 1, True, 2)
    before, block, after = tower_tensors(v, spec.hidden_size)
    big = [n * 2 for n in [*before, *(block * v.num_layers), *after] if n * 2 > 1 << 20]
    assert sorted(tr.live.values()) == sorted(big)
    assert sorted(tr.live) == sorted(k for k in c.grads if k)


def test_tower_gradients_come_after_the_text_layers() -> None:
    """A training tower's gradients are made by its backward, after the text layers' (LLaVA embeds the tokens
    first) or, for Llama 3.2 Vision (tower first), after the embedding's: they are not among the gradients made at
    the start of backward. LLaVA-1.5's tower + projector, bf16: 2 B per parameter; its untied token table
    32,064 × 4,096 × 2 B is the rest of the gradients made at the end."""
    from memfit.memory.images import tower_runs_first
    from memfit.memory.training.states import model_states

    spec = _spec("llava-1.5-7b-hf")
    assert spec.vision is not None
    wl = Workload(mode="train", batch=1, context=1024 + 576, images=1, dtype="bfloat16",
                  mixed_precision=False).validate()
    st = model_states(spec, wl)
    assert st.tower_grads == spec.vision.parameters * 2
    assert st.embedding_grads - st.tower_grads == 32064 * 4096 * 2
    assert st.head_grads + sum(st.layer_grads) + st.embedding_grads == st.gradients
    assert not tower_runs_first(spec) and tower_runs_first(_spec("llama-3.2-11b-vision"))


def _cut(name: str, text_layers: int) -> ModelSpec:
    cfg = json.loads(json.dumps(_config(name)))
    cfg["text_config"]["num_hidden_layers"] = text_layers
    return spec_from_config(cfg, name)


def test_deepstack_mergers_no_text_layer_reads_get_no_gradient_nor_state() -> None:
    """Qwen3-VL adds deepstack merger j's features to text layer j's output only while j < the text layers
    (``Qwen3VLTextModel.forward``): with two text layers Qwen3-VL-8B's third merger feeds nothing, gets no gradient,
    and AdamW keeps no state for it. Its parameters, by hand: LayerNorm over 4 · 1,152 = 4,608 (weight, bias), fc1
    4,608² + 4,608, fc2 4,096 · 4,608 + 4,096 = 40,125,952."""
    from memfit.inventory import count_parameters
    from memfit.memory.images import deepstack_used, idle_tower_parameters
    from memfit.memory.training.states import model_states

    idle = 2 * 4608 + 4608 * 4608 + 4608 + 4096 * 4608 + 4096
    assert idle == 40_125_952
    spec = _cut("qwen3-vl-8b-instruct", 2)
    assert spec.vision is not None and spec.vision.deepstack_indexes == (8, 16, 24)
    assert deepstack_used(spec) == 2 and idle_tower_parameters(spec) == idle
    wl = Workload(mode="train", batch=1, context=2048 + 1024, images=1, dtype="bfloat16",
                  mixed_precision=False, optimizer="adamw-fused").validate()
    st = model_states(spec, wl)
    total = count_parameters(spec).total
    assert st.trainable == total - idle
    assert st.tower_grads == (spec.vision.parameters - idle) * 2
    assert st.optimizer.state_bytes == 2 * (total - idle) * 2
    full = _cut("qwen3-vl-8b-instruct", 3)  # three text layers read all three
    assert idle_tower_parameters(full) == 0 and model_states(full, wl).trainable == count_parameters(full).total
    assert model_states(spec, wl.replace(images=0)).tower_grads == 0  # no image: the whole tower idle, as before


@pytest.mark.parametrize(("text_layers", "blocks_before"), [(36, [0, 6, 12, 18]), (2, [0, 12, 18])])
def test_deepstack_merger_gradients_come_before_their_block(text_layers: int, blocks_before: list[int]) -> None:
    """The tower's backward makes the main merger's gradients first, then deepstack merger j's right before the
    backward of the block it reads (``deepstack_visual_indexes`` 5, 11, 17 of Qwen3-VL-4B's 24 blocks: after 6, 12
    and 18 blocks; the 36 text layers read all three), and none for a merger no text layer reads (two text layers:
    the third, at block 17, idle; the others after 12 and 18 blocks). Merger fc2's gradient is 2,560 · 4,096 × 2 B
    = 20 MiB (4 · 1,024 features in, the text width out), a block's fused qkv 3 · 1,024² × 2 B = 6 MiB."""
    spec = _cut("qwen3-vl-4b-instruct", text_layers)
    wl = Workload(mode="train", batch=1, context=2048, images=1, checkpointing="full")
    tr = Requested()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), 1, wl.context)
    run = tower_forward(c, 1, tower_training_saved(spec, wl, 2), True)
    start = len(tr.sizes)
    tower_backward(c, run, 1, True, 2)
    made = tr.sizes[start:]
    fc2, qkv = 2560 * 4096 * 2, 3 * 1024 * 1024 * 2
    assert [made[:i].count(qkv) for i, n in enumerate(made) if n == fc2] == blocks_before
