"""A vision tower that trains on the batch's images, as the caching allocator sees it (replayed by
``training/pool.py``).

Read off the simulator's allocation traces of the development cases ``qwen3-vl-8b-instruct-l2/train-img1-…`` and
``qwen2.5-vl-7b-instruct-l2/train-img1-…`` (``validate --trace``, docs/simulator.md) and transformers 5.25's
``modeling_qwen3_vl.py`` / ``modeling_qwen2_5_vl.py``:

* the tower's parameters are one tensor per module parameter, made before the text model's (``self.visual`` /
  ``self.vision_tower`` is the first submodule of the image-text model), so their optimizer states come first too;
  a tower of ~1 GB is a few hundred tensors of at most tens of MiB (``memory.images.tower_tensors``), which the
  caching allocator places in freed blocks, not a block of its own;
* the forward runs the tower before the text layers: per block its qkv output and the rotated q and k in fp32 (the
  rotary's cos/sin are fp32), then the MLP's intermediates, each freed as the block returns; what the block keeps
  for backward (with full checkpointing its input only) lives to its backward; the projector's saved tensors and
  the pixels (``images.tower_training_saved``) are one more tensor;
* the backward runs the tower after the text layers and before the embedding's backward: the mergers' weight
  gradients first, then each block from the last (recomputed under checkpointing: the same transients), its weight
  gradients in reverse module order, then the patch and position embeddings' gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..caching_allocator import K_SMALL_SIZE
from ..images import deepstack_used, patches_per_image, tower_checkpointed, tower_tensors
from .layer_ops import StepContext

__all__ = ["TowerRun", "idle_tower_tensors", "tower_backward", "tower_forward", "tower_parameters"]

_GATED = ("qwen2_5_vl", "gemma4")  # gate/up/down MLPs: three intermediates alive
_ROTARY = ("qwen2_5_vl", "qwen3_vl")  # q and k rotated in fp32


@dataclass
class TowerRun:
    """What the tower's forward left for its backward."""

    blocks: list[int] = field(default_factory=list)  # each block's kept tensors, in block order
    rest: int = 0  # the projector's saved tensors and the pixels


def tower_parameters(c: StepContext) -> list[int]:
    """The tower's parameter tensors (elements) in module order; empty without a tower."""
    v = c.spec.vision
    if v is None or not v.parameters:
        return []
    before, block, after = tower_tensors(v, c.spec.hidden_size)
    return [*before, *(block * v.num_layers), *after]


def _mergers(c: StepContext) -> tuple[tuple[int, ...], dict[int, tuple[int, ...]]]:
    """The tensors after the blocks as (the main merger's and whatever else has no block of its own, each deepstack
    merger a text layer reads by the tower block it reads: ``Qwen3VLVisionModel.forward`` runs merger j right after
    block ``deepstack_visual_indexes[j]``, so autograd, which runs the ready node made last first, runs its backward
    after the block above and before that block's)."""
    v = c.spec.vision
    assert v is not None
    _before, _block, after = tower_tensors(v, c.spec.hidden_size)
    if v.kind != "qwen3_vl" or len(after) != 6 * (1 + v.deepstack):
        return after, {}
    used = deepstack_used(c.spec)
    if len(v.deepstack_indexes) != v.deepstack:  # blocks not known: the mergers' gradients first
        return after[:6 * (1 + used)], {}
    return after[:6], {v.deepstack_indexes[j]: after[6 + 6 * j:12 + 6 * j] for j in range(used)}


def idle_tower_tensors(c: StepContext) -> int:
    """How many of the tower's last parameter tensors get no gradient: the deepstack mergers no text layer reads
    (``images.deepstack_used``), six tensors each."""
    v = c.spec.vision
    if v is None or v.kind != "qwen3_vl":
        return 0
    _before, _block, after = tower_tensors(v, c.spec.hidden_size)
    return 6 * (v.deepstack - deepstack_used(c.spec)) if len(after) == 6 * (1 + v.deepstack) else 0


def _transients(c: StepContext, patches: int) -> None:
    """One block's forward temporaries: qkv (and q, k rotated in fp32), then the MLP's intermediates."""
    v = c.spec.vision
    assert v is not None
    tr, d, dt = c.tr, v.hidden_size, c.pb
    qkv = tr.alloc(3 * patches * d * dt)
    rot = [tr.alloc(patches * d * 4) for _ in range(2)] if v.kind in _ROTARY else []
    attn = tr.alloc(patches * d * dt)
    tr.free(*rot, qkv)
    inter = [tr.alloc(patches * v.intermediate_size * dt) for _ in range(3 if v.kind in _GATED else 2)]
    tr.free(*inter, attn)


def _block_backward(c: StepContext, patches: int, grads: list[int]) -> None:
    """A checkpointed block's backward (``torch.utils.checkpoint``, non-reentrant): the block run again up to its
    last saved tensor (norm, qkv, q and k rotated in fp32 and cast back, the attention output and its copy, o_proj
    and the residual, the second norm, the MLP's intermediates), then the gradients back through the MLP (the
    product's, each weight's gradient after its input's), o_proj, the attention kernel (dq, dk, dv) and qkv;
    ``grads`` are the block's weight gradients in the order they are made (their sizes; keys appended to
    ``c.grads``)."""
    v = c.spec.vision
    assert v is not None
    tr, dt = c.tr, c.pb
    x, x32, inter = patches * v.hidden_size * dt, patches * v.hidden_size * 4, patches * v.intermediate_size * dt
    gated = v.kind in _GATED
    todo = iter(grads)

    def grad() -> None:
        c.grads.append(tr.alloc(next(todo, 0)))

    n1, qkv = tr.alloc(x), tr.alloc(3 * x)
    q = k = 0
    if v.kind in _ROTARY:
        r = [tr.alloc(x32) for _ in range(4)]
        q = tr.alloc(x)
        k = tr.alloc(x)
        tr.free(*r)
    attn, o = tr.alloc(x), tr.alloc(x)
    proj = tr.alloc(x)
    h = tr.alloc(x)
    tr.free(proj)
    n2 = tr.alloc(x)
    mlp = [tr.alloc(inter) for _ in range(4 if gated else 2)]
    # the MLP: the down projection's input gradient, its weight's; then the activation's
    g = tr.alloc(inter)
    grad()
    if gated:  # d(act·up): two products, then silu's backward; up's and gate's input and weight gradients
        g2 = tr.alloc(inter)
        tr.free(g, mlp[3], mlp[2])
        gx = tr.alloc(x)
        grad()
        g3 = tr.alloc(inter)
        tr.free(g2, mlp[1])
        tr.free(gx)
        gx = tr.alloc(x)
        grad()
        tr.free(g3, mlp[0])
    else:
        tr.free(mlp[1])
        g2 = tr.alloc(inter)
        tr.free(g, mlp[0])
        gx = tr.alloc(x)
        grad()
        tr.free(g2)
    tr.free(n2, gx)
    gp = tr.alloc(x)  # o_proj's input gradient, then its weight's
    grad()
    tr.free(o, h)
    dqkv = [tr.alloc(x) for _ in range(3)]  # the attention kernel's dq, dk, dv (and its scratch)
    tr.free(tr.alloc(x), gp, attn, q, k, qkv)
    stacked = tr.alloc(3 * x)
    tr.free(*dqkv)
    gi = tr.alloc(x)  # qkv's input gradient, then its weight's
    grad()
    tr.free(stacked, n1, gi)
    for n in todo:  # any the block has beyond these
        c.grads.append(tr.alloc(n))


def tower_forward(c: StepContext, images: int, saved: int, full: bool) -> TowerRun:
    """The tower over ``images`` images per sequence, keeping ``saved`` bytes in all (``images.tower_training_saved``:
    each block's share, the rest one tensor)."""
    v = c.spec.vision
    run = TowerRun()
    if v is None or not v.hidden_size or not saved:
        return run
    patches = c.batch * images * patches_per_image(v)
    full = full and tower_checkpointed(v)
    width = v.hidden_size if full else 8 * v.hidden_size + (3 if v.kind in _GATED else 2) * v.intermediate_size
    per_block = min(patches * width * c.pb, saved // max(1, v.num_layers))
    for _ in range(v.num_layers):
        _transients(c, patches)
        run.blocks.append(c.tr.alloc(per_block))
    run.rest = c.tr.alloc(saved - per_block * v.num_layers)
    return run


def tower_backward(c: StepContext, run: TowerRun, images: int, full: bool, grad_bytes: int) -> None:
    """The tower's backward: the mergers' gradients, each block from the last (recomputed under checkpointing) with
    its gradients, then the embeddings'; the gradients join the step's (``c.grads``)."""
    v = c.spec.vision
    if v is None or not run.blocks:
        return
    tr = c.tr
    full = full and tower_checkpointed(v)
    before, block, _after = tower_tensors(v, c.spec.hidden_size)
    after, deepstack = _mergers(c)
    patches = c.batch * images * patches_per_image(v)
    def large(tensors: tuple[int, ...]) -> list[int]:  # the small pool's gradients are not replayed
        return [n * grad_bytes for n in reversed(tensors) if n * grad_bytes > K_SMALL_SIZE]

    c.grads += [tr.alloc(n) for n in large(after)]
    made = large(block)
    for i in range(len(run.blocks) - 1, -1, -1):
        key = run.blocks[i]
        c.grads += [tr.alloc(n) for n in large(deepstack.get(i, ()))]
        if full:
            _block_backward(c, patches, made)
        else:
            c.grads += [tr.alloc(n) for n in made]
        tr.free(key)
    c.grads += [tr.alloc(n) for n in large(before)]
    tr.free(run.rest)
