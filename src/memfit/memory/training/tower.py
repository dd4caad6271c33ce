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
from ..runtimes.transformers_pool_rope import rope
from .layer_ops import StepContext

__all__ = ["TowerRun", "idle_tower_tensors", "tower_backward", "tower_forward", "tower_parameters"]

_GATED = ("qwen2_5_vl", "gemma4")  # gate/up/down MLPs: three intermediates alive
_ROTARY = ("qwen2_5_vl", "qwen3_vl")  # q and k rotated in fp32


@dataclass
class TowerRun:
    """What the tower's forward left for its backward."""

    blocks: list[int] = field(default_factory=list)  # each block's kept tensors, in block order
    rest: int = 0  # the projector's saved tensors and the pixels
    mergers: dict[int, list[int]] = field(default_factory=dict)  # Qwen3-VL: each merger's saved tensors (its
    # LayerNorm's output, fc1's and the GELU's outputs; -1: the main merger), by the block it reads


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


def _block_backward(c: StepContext, patches: int, grads: list[int], stream: int = 0) -> int:
    """A checkpointed block's backward (``torch.utils.checkpoint``, non-reentrant): the block run again up to its
    last saved tensor (norm, qkv, q and k rotated in fp32 and cast back, the attention output and its copy, o_proj
    and the residual, the second norm, the MLP's intermediates), then the gradients back through the MLP (the
    product's, each weight's gradient after its input's), o_proj, the attention kernel (dq, dk, dv) and qkv;
    ``grads`` are the block's weight gradients in the order they are made (their sizes; keys appended to
    ``c.grads``). ``stream``: the gradient of the block's output where it is replayed (the mergers replayed one by
    one): each norm's input gradient is added into it (two residual sums), and the block returns its input's."""
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
    tr.free(n2)
    stream = _residual(c, x, gx, stream)
    gp = tr.alloc(x)  # o_proj's input gradient, then its weight's
    grad()
    tr.free(o, h)
    dqkv = [tr.alloc(x) for _ in range(3)]  # the attention kernel's dq, dk, dv (and its scratch)
    tr.free(tr.alloc(x), gp, attn, q, k, qkv)
    stacked = tr.alloc(3 * x)
    tr.free(*dqkv)
    gi = tr.alloc(x)  # qkv's input gradient, then its weight's
    grad()
    tr.free(stacked, n1)
    stream = _residual(c, x, gi, stream)
    for n in todo:  # any the block has beyond these
        c.grads.append(tr.alloc(n))
    return stream


def _qwen3_block_backward(c: StepContext, patches: int, grads: list[int], stream: int, key: int) -> int:
    """A checkpointed Qwen3-VL vision block's backward, tensor by tensor as the development traces of
    qwen3-vl-30b-a3b-l2 and qwen3-vl-8b-l2 image ckpt run it (transformers 5.25 ``Qwen3VLVisionBlock`` /
    ``Qwen3VLVisionAttention``: ``apply_rotary_pos_emb_vision`` on q and k cast to fp32, ``q * cos +
    rotate_half(q) * sin`` with ``rotate_half``'s ``neg`` and ``cat``; SDPA per image split then ``cat``;
    ``fc2(gelu(fc1(norm2(h))))``). torch.utils.checkpoint's early stop ends the recomputation at fc2's pack (its
    output and the residual add are not made again); the backward then runs in autograd's reverse topological
    order: fc2, GELU, fc1, norm2 and the residual sum, proj, the flash kernel (dq, dk, dv and its fp32
    accumulator), the split's ``cat``s, the rotary backward of q and k (``to_copy``, ``mul``, ``neg``, two
    ``slice_backward``s), ``stack`` and ``clone`` of the qkv gradient, qkv, norm1 and the second residual sum.
    ``stream``: the gradient of the block's output; returns its input's; ``key``: the block's checkpointed input."""
    v = c.spec.vision
    assert v is not None
    tr, dt = c.tr, c.pb
    x, x32, inter = patches * v.hidden_size * dt, patches * v.hidden_size * 4, patches * v.intermediate_size * dt
    heads = max(1, v.num_heads)
    hd = v.hidden_size // heads
    scratch = -(-patches // 128) * 128 * heads * (-(-hd // 32) * 32 * 4 + 4)  # dq's fp32 accumulator, softmax_d
    todo = iter(grads)

    def grad() -> None:
        c.grads.append(tr.alloc(next(todo, 0)))

    n1, qkv, qb, kb, attn, cat, h, n2, fc1, act = _qwen3_recompute(c, patches)
    g = tr.alloc(inter)  # fc2's input gradient, then its weight's
    grad()
    tr.free(act)
    gg = tr.alloc(inter)
    tr.free(fc1, g)
    g1 = tr.alloc(x)  # fc1's input gradient, then its weight's
    grad()
    tr.free(n2, gg)
    stream = _residual(c, x, g1, stream, h)
    gp = tr.alloc(x)  # proj's input gradient, then its weight's
    grad()
    tr.free(cat)
    dqkv = [tr.alloc(x) for _ in range(3)]
    tr.free(tr.alloc(scratch), attn, qkv, qb, kb, gp)
    cats = []
    for d in dqkv:  # the split's backward
        cats.append(tr.alloc(x))
        tr.free(d)
    gq32 = tr.alloc(x32)
    tr.free(cats[1])
    gk32 = tr.alloc(x32)
    tr.free(cats[2])
    done = [_rotary_backward(c, x32, gq32), _rotary_backward(c, x32, gk32)]
    back = []
    for d in done:
        back.append(tr.alloc(x))
        tr.free(d)
    stacked = tr.alloc(3 * x)
    tr.free(*back, cats[0])
    cloned = tr.alloc(3 * x)
    tr.free(stacked)
    gi = tr.alloc(x)  # qkv's input gradient, then its weight's
    grad()
    tr.free(n1, cloned)
    stream = _residual(c, x, gi, stream, key)
    for n in todo:  # any the block has beyond these
        c.grads.append(tr.alloc(n))
    return stream


def _qwen3_recompute(c: StepContext, patches: int) -> list[int]:
    """A Qwen3-VL vision block's forward run again up to fc2's pack (``_qwen3_block_backward``): the saved tensors'
    keys (norm1, qkv, q and k rotated and cast back, the attention output and its ``cat``, the residual sum,
    norm2, fc1's and the GELU's outputs)."""
    v = c.spec.vision
    assert v is not None
    tr, x, x32 = c.tr, patches * v.hidden_size * c.pb, patches * v.hidden_size * 4
    inter = patches * v.intermediate_size * c.pb
    n1, qkv = tr.alloc(x), tr.alloc(3 * x)
    q32, k32 = tr.alloc(x32), tr.alloc(x32)
    qe, ke = rope(c.tr, x32, x32, False), rope(c.tr, x32, x32, False)  # on the fp32 copies
    qb = tr.alloc(x)
    tr.free(qe)
    kb = tr.alloc(x)
    tr.free(ke, q32, k32)
    attn, cat = tr.alloc(x), tr.alloc(x)
    proj = tr.alloc(x)
    h = tr.alloc(x)
    tr.free(proj)
    n2 = tr.alloc(x)
    return [n1, qkv, qb, kb, attn, cat, h, n2, tr.alloc(inter), tr.alloc(inter)]  # (the early stop at fc2's pack)


def _rotary_backward(c: StepContext, x32: int, g: int) -> int:
    """``q * cos + rotate_half(q) * sin``'s backward from the fp32 gradient ``g`` (freed): ``g * sin``,
    ``rotate_half``'s ``neg`` and two ``slice_backward``s summed, ``g * cos``, the sum."""
    tr = c.tr
    m = tr.alloc(x32)
    n = tr.alloc(x32 // 2)
    s1 = tr.alloc(x32)
    tr.free(n)
    s2 = tr.alloc(x32)
    tr.free(m)
    a = tr.alloc(x32)
    tr.free(s1, s2)
    m2 = tr.alloc(x32)
    tr.free(g)
    out = tr.alloc(x32)
    tr.free(a, m2)
    return out


def _residual(c: StepContext, x: int, g: int, stream: int, saved: int = 0) -> int:
    """A norm's backward from its Linear's input gradient ``g`` and, where the stream's gradient is replayed, the
    residual sum with it; returns the stream's gradient (0 where it is not replayed). ``saved``: the norm's input,
    freed as its backward runs (the residual ``h`` for the second norm, the block's checkpointed input for the
    first)."""
    tr = c.tr
    if not stream:
        tr.free(g, saved)
        return 0
    gl = tr.alloc(x)
    tr.free(g, saved)
    total = tr.alloc(x)
    tr.free(gl, stream)
    return total


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
    readers = _merger_blocks(c) if full else ()
    x = patches * v.hidden_size * c.pb
    for i in range(v.num_layers):
        _transients(c, patches)
        run.blocks.append(c.tr.alloc(per_block))
        if i in readers:  # a deepstack merger runs right after the block it reads
            run.mergers[i] = [c.tr.alloc(x) for _ in range(3)]
    if readers:
        run.mergers[-1] = [c.tr.alloc(x) for _ in range(3)]
    run.rest = c.tr.alloc(saved - per_block * v.num_layers - 3 * x * len(run.mergers))
    return run


def _merger_blocks(c: StepContext) -> tuple[int, ...]:
    """The blocks whose outputs Qwen3-VL's used deepstack mergers read (none where the mergers are not replayed one
    by one: ``_mergers``)."""
    v = c.spec.vision
    assert v is not None
    _after, deepstack = _mergers(c)
    return tuple(deepstack) if v.kind == "qwen3_vl" and len(deepstack) == deepstack_used(c.spec) else ()


def _merger_backward(c: StepContext, saved: list[int], grads: list[int], feature: int = 0, read: int = 0) -> int:
    """A Qwen3-VL patch merger's backward (LayerNorm, fc1, GELU, fc2 on the merged tokens, as the development traces
    of qwen3-vl-30b-a3b-l2 and qwen3-vl-8b-l2 image ckpt run it): fc2's input gradient then its weight's (then
    ``feature``, the gradient of its output, is freed), the GELU's backward, fc1's input gradient then its weight's,
    the LayerNorm's backward (then ``read``, the block output it normed, is freed where the replay holds it apart),
    each saved tensor freed as its reader's backward runs; ``grads``: the merger's weight gradients as made (sizes).
    Returns the key of the gradient of the block output it reads."""
    v = c.spec.vision
    assert v is not None
    tr, (ln_out, fc1_out, gelu_out) = c.tr, saved
    x = tr.pool.live[ln_out].size if ln_out in tr.pool.live else 0
    todo = iter(grads)
    gi = tr.alloc(x)
    c.grads.append(tr.alloc(next(todo, 0)))
    tr.free(feature, gelu_out)
    gg = tr.alloc(x)
    tr.free(gi, fc1_out)
    g1 = tr.alloc(x)
    c.grads.append(tr.alloc(next(todo, 0)))
    tr.free(gg, ln_out)
    gl = tr.alloc(x)
    tr.free(g1, read)
    c.grads += [tr.alloc(n) for n in todo]
    return gl


def _feature_grads(c: StepContext, patches: int, mergers: int) -> list[int]:
    """The gradients of Qwen3-VL's merger outputs as the text model's backward hands them over (the development
    traces): ``masked_scatter``'s backward for the image features, then one ``cat`` per merger (the per-image
    ``split``'s backward; the deepstack mergers' first, the main merger's last, for which the first is freed).
    Sizes: the merged tokens (a quarter of the patches: the 2 × 2 spatial merge) times the text width."""
    v = c.spec.vision
    assert v is not None
    tr, f = c.tr, patches // 4 * v.projector_dim * c.pb
    scattered = tr.alloc(f)
    out = [tr.alloc(f) for _ in range(mergers)]
    tr.free(scattered)
    return out


def _embeddings_backward(c: StepContext, patches: int, grads: list[int], stream: int) -> None:
    """Qwen3-VL's position and patch embeddings' backward from the stream's gradient (the development traces;
    transformers 5.25 ``fast_pos_embed_interpolate``: four bilinear corners looked up and weighted): the gradient
    in fp32, times the four corners' weights (fp32), cast back; the position table's gradient (``grads[0]``) with
    ``embedding_dense_backward``'s fp32 partial sums over the 4 × patches indices (``pool._embedding_backward``'s
    sizes), then the patch embedding's (Conv3d) gradients; the stream's gradient freed last."""
    v = c.spec.vision
    assert v is not None
    tr, x32 = c.tr, patches * v.hidden_size * 4
    todo = iter(grads)
    g32 = tr.alloc(x32)
    corners = tr.alloc(4 * x32)
    low = tr.alloc(4 * patches * v.hidden_size * c.pb)
    tr.free(corners, g32)
    c.grads.append(tr.alloc(next(todo, 0)))
    tr.free(tr.alloc(4 * x32 + 4 * 4 * patches * 8), low)
    c.grads += [tr.alloc(n) for n in todo]
    tr.free(stream)


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

    stream = 0  # the gradient of the tower's stream (where the mergers are replayed one by one)
    features = _feature_grads(c, patches, len(run.mergers)) if run.mergers else []
    if -1 in run.mergers:
        stream = _merger_backward(c, run.mergers[-1], large(after), features.pop())
    else:
        c.grads += [tr.alloc(n) for n in large(after)]
    made = large(block)
    read = 0  # a block output a deepstack merger's LayerNorm reads, held to that merger's backward
    for i in range(len(run.blocks) - 1, -1, -1):
        key = run.blocks[i]
        if i in run.mergers:  # its LayerNorm's gradient added into the stream's
            gl = _merger_backward(c, run.mergers[i], large(deepstack.get(i, ())), features.pop(0), read)
            total = tr.alloc(tr.pool.live[gl].size if gl in tr.pool.live else 0)
            tr.free(gl, stream)
            stream, read = total, 0
        else:
            c.grads += [tr.alloc(n) for n in large(deepstack.get(i, ()))]
        if full and stream and v.kind == "qwen3_vl":
            read = key if i - 1 in run.mergers else 0  # block i - 1's output, block i's input
            stream = _qwen3_block_backward(c, patches, made, stream, 0 if read else key)
            key = 0
        elif full:
            stream = _block_backward(c, patches, made, stream)
        else:
            c.grads += [tr.alloc(n) for n in made]
        tr.free(key)
    if stream and v.kind == "qwen3_vl":
        _embeddings_backward(c, patches, large(before), stream)
        stream = 0
    else:
        c.grads += [tr.alloc(n) for n in large(before)]
    tr.free(run.rest, stream, read, *features)
