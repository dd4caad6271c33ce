"""The build of a model whose weight init is ``orthogonal_``, made with random weights on the device: the QR
decomposition's fp32 buffers go through the caching allocator and stay cached as segments the run then reuses.

transformers 5.25 ``initialization.py`` ``orthogonal_``: for a 16-bit tensor it makes ``fp32_tensor =
torch.empty_like(tensor, dtype=torch.float32)`` ("the QR decomposition (geqrf) is only implemented for
float32/float64"), fills it with torch's ``nn.init.orthogonal_`` and copies it back (the fp32 copy freed after the
copy). torch ``nn/init.py`` ``orthogonal_``: ``flattened = tensor.new_empty((rows, cols)).normal_()`` (transposed to
tall when rows < cols), ``q, r = torch.linalg.qr(flattened)`` (reduced: q as large as the tensor, r
``min(rows, cols)²``), ``q *= d.sign()``, the copy into the tensor; flattened, q and r go when it returns.

Families whose ``_init_weights`` calls it on every ``nn.Linear`` and ``nn.Embedding`` (:data:`ORTHOGONAL_INIT`):
``RwkvPreTrainedModel._init_weights`` (``models/rwkv/modeling_rwkv.py``: ``init.orthogonal_(module.weight, gain)``).
The base model's ``post_init`` fills its parameters after making all of them; the causal LM's head is made and filled
after (as ``memory/weight_init.py`` describes). Checked against the simulator's allocation trace of
rwkv-default-l2/gen-eager-b2-s900-new8 (sweep-dev.jsonl): the build's peak 4.27 GB allocated, 4.69 GB reserved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ..inventory import inventory

if TYPE_CHECKING:
    from ..spec import ModelSpec
    from .allocator_trace import Block

__all__ = ["ORTHOGONAL_INIT", "build_orthogonal", "orthogonal_build"]

FP32 = 4
# model_type -> (the parameters orthogonal_ fills, the base model's prefix)
ORTHOGONAL_INIT: dict[str, tuple[re.Pattern[str], str]] = {
    "rwkv": (re.compile(r"(embeddings|\.key|\.value|\.receptance|\.output)\.weight$|^head\.weight$"), "rwkv."),
}


class _Trace(Protocol):
    def alloc(self, nbytes: int) -> int: ...

    def free(self, *keys: int) -> None: ...


def replay_orthogonal(tr: _Trace, shape: Sequence[int], dt: int) -> None:
    """One ``orthogonal_`` on a tensor of ``shape`` in a ``dt``-byte dtype: the fp32 copy (16-bit tensors), the normal
    draw, QR's q and r; then they go."""
    n = math.prod(shape)
    side = min(shape[0], n // shape[0]) if shape and shape[0] else 0
    copy = tr.alloc(n * FP32) if dt < FP32 else 0
    flattened = tr.alloc(n * FP32)
    q = tr.alloc(n * FP32)
    r = tr.alloc(side * side * FP32)
    tr.free(flattened, q, r)
    tr.free(copy)


def build_orthogonal(
    tr: _Trace,
    family: str,
    names: Sequence[str],
    shapes: Sequence[Sequence[int]],
    sizes: Sequence[int],
    dt: int,
    tied: int | None,
) -> list[int]:
    """The parameters (``names``, ``shapes`` and ``sizes`` in bytes, in model order) made and filled: the base model's
    all made, then filled in order; then the head's. ``tied``: the bytes of a tied output projection (made, filled,
    then freed by the tie). Returns the parameters' keys."""
    pattern, base = ORTHOGONAL_INIT[family]
    keys = [0] * len(names)
    parts = (
        [i for i, n in enumerate(names) if n.startswith(base)],
        [i for i, n in enumerate(names) if not n.startswith(base)],
    )
    for part in parts:
        for i in part:
            keys[i] = tr.alloc(sizes[i])
        for i in part:
            if pattern.search(names[i]) and len(shapes[i]) == 2:
                replay_orthogonal(tr, shapes[i], dt)
    if tied:
        head = tr.alloc(tied)
        emb = [s for n, s in zip(names, shapes, strict=True) if n.startswith(base) and "embeddings" in n]
        if emb:
            replay_orthogonal(tr, emb[0], dt)
        tr.free(head)
    return keys


def orthogonal_build(tr: _Trace, spec: ModelSpec, blocks: Sequence[Block], sizes: Sequence[int], dt: int) -> bool:
    """:func:`build_orthogonal` for a family in :data:`ORTHOGONAL_INIT` (``blocks`` in model order, each of
    ``sizes`` bytes; ``dt`` the parameters' bytes per element); False, nothing made, for another family."""
    if spec.family not in ORTHOGONAL_INIT:
        return False
    shapes = {t.name: t.shape for t in inventory(spec)}
    tied = spec.vocab_size * spec.hidden_size * dt if spec.tie_word_embeddings else None
    build_orthogonal(
        tr, spec.family, [b.name for b in blocks], [shapes.get(b.name, ()) for b in blocks], sizes, dt, tied
    )
    return True
