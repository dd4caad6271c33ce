"""The build of a model made with random weights on the device, where the family's weight init allocates
(``data/trunc_normal_init.toml``: parameters filled by ``trunc_normal_``, whose torch 2.12+ rejection sampling leaves
its buffers cached, ``memory/trunc_normal.py``).

transformers 5.25 builds a causal LM from its config so: the base model's ``__init__`` makes its parameters, its
``post_init`` (modeling_utils.py ``PreTrainedModel.post_init`` -> ``init_weights`` -> ``initialize_weights``) fills them
module by module in the order of the parameters (``smart_apply``: children first), and marks each module
``_is_hf_initialized``; then the causal LM's own modules (the head, the output projection) are made and its
``post_init`` fills only those, and ``tie_weights`` replaces a tied output projection by the input embedding, freeing
the one just made and filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..sources.init_rows import init_rows
from .orthogonal_init import orthogonal_build
from .trunc_normal import TruncNormal, replay_trunc_normal

__all__ = ["build_initialised", "build_plain", "orthogonal_build", "rescale_out_proj"]


class _Trace(Protocol):
    def alloc(self, nbytes: int) -> int: ...

    def free(self, *keys: int) -> None: ...


class _Block(Protocol):
    @property
    def numel(self) -> int: ...

    @property
    def name(self) -> str: ...


def build_initialised(
    tr: _Trace, family: str, cutoff: float, blocks: Sequence[_Block], sizes: Sequence[int], tied: tuple[int, int] | None
) -> list[int] | None:
    """The parameters (``blocks`` with their ``sizes`` in bytes, in model order) made and filled as described above;
    ``tied``: the tied output projection's elements and bytes. Returns the parameters' keys, or None for a family
    whose init allocates nothing (no row)."""
    row = init_rows().get(family)
    if row is None or cutoff <= 0.0:
        return None
    init = TruncNormal(0.0, 1.0, -cutoff, cutoff)  # mean 0, bounds +-cutoff stds: only their ratio counts
    base = [i for i, b in enumerate(blocks) if b.name.startswith(row.base)]
    head = [i for i, b in enumerate(blocks) if not b.name.startswith(row.base)]
    keys = [0] * len(blocks)
    for part in (base, head):
        for i in part:
            keys[i] = tr.alloc(sizes[i])
        copy = tr.alloc(tied[1]) if part is head and tied is not None else 0
        for i in part:
            if row.tensors.search(blocks[i].name):
                replay_trunc_normal(tr, blocks[i].numel, sizes[i], init)
        if copy and tied is not None:
            if row.tied:
                replay_trunc_normal(tr, tied[0], tied[1], init)
            tr.free(copy)
    return keys


def build_plain(
    tr: _Trace,
    blocks: Sequence[_Block],
    sizes: Sequence[int],
    rescaled: bool = False,
    tied: int = 0,
    head_first: int | None = None,
) -> list[int]:
    """The parameters made one tensor each in model order (a family without a ``trunc_normal_`` row), then with
    ``rescaled`` :func:`rescale_out_proj`'s transients, then a tied output projection of ``tied`` bytes freed by
    ``tie_weights``: made after the rest (the head made last) or, ``head_first`` (``allocator_trace.tied_head_at``:
    the index of the shared tensor, listed under the head's name), just before the input embedding it is tied to.
    Returns the parameters' keys."""
    keys, copy = [], 0
    for i, n in enumerate(sizes):
        if i == head_first and tied:
            copy = tr.alloc(tied)
        keys.append(tr.alloc(n))
    if rescaled:
        rescale_out_proj(tr, blocks, sizes)
    if tied:
        tr.free(copy or tr.alloc(tied))
    return keys


def rescale_out_proj(tr: _Trace, blocks: Sequence[_Block], sizes: Sequence[int]) -> None:
    """A random-init build's out-of-place rescale of each Mamba mixer's out_proj (``ModelSpec.init_rescaled_out_proj``,
    Nemotron-H): ``p / sqrt(num_hidden_layers)`` made and freed by ``init.copy_``, one mixer at a time, in the base
    model's ``post_init``, before the causal LM's head is made. Replayed after the whole build: no cached block can
    hold it then or before the head, so it opens one segment of its size either way."""
    for b, n in zip(blocks, sizes, strict=True):
        if b.name.endswith("mixer.out_proj.weight"):
            tr.free(tr.alloc(n))
