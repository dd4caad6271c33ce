"""Reformer's moments in transformers inference (transformers 5.25 ``models/reformer/modeling_reformer.py``): each phase
of the replayed prompt forward (``transformers_reformer.reformer_forward``: the peak of a live-bytes count) as one
moment; with a cache (``prefill``, ``generate``) the moment after it and the decoding steps.

* after the prefill: the cache (each layer's normed input, a view of the padded tensor, and the LSH layers' buckets),
  generate's ids and attention mask, the last token's logits and their processing (``transformers._sampling_bytes``);
* decoding: ``prepare_inputs_for_generation`` feeds the last token; every layer's ``ReformerDynamicCache.update``
  grows its states by ``torch.cat`` (and the buckets), and an LSH layer first cats its cached states with the new
  token (``_get_relevant_hid_states_and_buckets``) and ``index_select``s the chunks around the query's bucket
  (``(1 + before + after) · chunk`` rows per hash and head, ``b × heads × hashes·n·chunk × hidden``), which
  ``_query_per_attn_head`` / ``_value_per_attn_head``'s einsums copy and project (``b × heads × rows × d`` each).
  The moment takes the last step at the LSH layer: every layer's states at ``s + new − 1`` tokens (the padded
  length if longer: the first step's layers still hold the prefill's view), the LSH layer's two cats, the relevant
  states and their copy, the two projections, the buckets, the inputs and the sampling.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from .transformers import INT64, Moment, _sampling_bytes
from .transformers_reformer import ReformerShape, padded_length, reformer_forward, reformer_shape

__all__ = ["LiveBytes", "reformer_moments", "reformer_peaks"]


def reformer_moments(spec: ModelSpec, wl: Workload, dt: int) -> list[Moment] | None:
    """Reformer's moments (see the module docstring); None for other families."""
    r = reformer_shape(spec)
    if r is None:
        return None
    b, s = wl.batch, wl.context
    peaks, left = reformer_peaks(r, b, s, dt, wl.task)
    where = "forward" if wl.task == "forward" else "prefill"
    out = [
        Moment(
            f"{where} {name}", 0, peak, formula=f"{_what(r, name, b, s, dt)}; replayed op by op (transformers_reformer)"
        )
        for name, peak in peaks.items()
    ]
    if wl.task == "forward":
        return out
    logits = b * r.vocab * dt
    out.append(
        Moment(
            "after prefill",
            0,
            left - logits,
            _sampling_bytes(b, r.vocab, dt),
            formula=f"cache states and buckets, inputs {left - logits:,} B + last-token logits and their processing",
        )
    )
    if wl.task == "generate" and wl.new_tokens > 1:
        out.append(_decoding(r, b, s, wl.new_tokens, dt))
    return out


def _what(r: ReformerShape, name: str, b: int, s: int, dt: int) -> str:
    """A phase's main tensors, in words."""
    sp = padded_length(r, s)
    tokens = f"{b}×{sp:,} tokens" + (f" (padded from {s:,})" if sp != s else "")
    if "attention" in name:
        lsh = name.startswith("lsh") and sp > r.lsh_chunk
        chunk, span = (r.lsh_chunk, r.lsh_span) if lsh else (r.local_chunk, r.local_span)
        keys = span * chunk if sp > chunk else sp
        n = r.hashes if lsh else 1
        return (
            f"{tokens}, {r.heads} heads × {r.head_size}: scores {b}×{r.heads}×{n * sp:,}×{keys} × {dt} B "
            "(masked, minus logsumexp, exp), q/k/v and the adjacent chunks' k/v"
        )
    if name.startswith("feed"):
        return f"{tokens}: dense {r.ffn} and its activation beside the two reversible streams"
    return f"{tokens}: the streams' cat and LayerNorm over 2×{r.hidden}, the logits"


def _decoding(r: ReformerShape, b: int, s: int, new: int, dt: int) -> Moment:
    """The last decoding step at the LSH layer (see the module docstring)."""
    tokens = max(padded_length(r, s), s + new - 1)
    state = b * tokens * r.hidden * dt
    lsh = sum(k == "lsh" for k in r.kinds)
    rows = r.hashes * r.lsh_span * r.lsh_chunk if lsh else 0
    relevant = b * r.heads * rows * r.hidden * dt
    projected = b * r.heads * rows * r.head_size * dt
    buckets = lsh * b * r.heads * r.hashes * tokens * INT64
    inputs = 2 * b * (s + new) * INT64
    acts = len(r.kinds) * state + (2 * state + 2 * relevant + 2 * projected if lsh else state) + buckets + inputs
    return Moment(
        "decoding",
        0,
        acts,
        _sampling_bytes(b, r.vocab, dt),
        formula=f"{len(r.kinds)} layers' states {b}×{tokens:,}×{r.hidden} × {dt} B + the LSH layer's cats, "
        f"relevant states {b}×{r.heads}×{rows}×{r.hidden} and their copy, q/k and v + buckets",
    )


class LiveBytes:
    """A live-bytes counter with the peak of each phase (the allocated peak memfit reports: exact tensor bytes)."""

    def __init__(self) -> None:
        self.live = 0
        self.made = 0
        self.sizes: dict[int, int] = {}
        self.phase = ""
        self.peaks: dict[str, int] = {}

    def mark(self, name: str) -> None:
        self.phase = name
        self.peaks[name] = self.live

    def alloc(self, nbytes: int) -> int:
        if nbytes <= 0:
            return 0
        self.made += 1
        key = self.made
        self.sizes[key] = nbytes
        self.live += nbytes
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), self.live)
        return key

    def free(self, *keys: int) -> None:
        for k in keys:
            if k:
                self.live -= self.sizes.pop(k)


def reformer_peaks(r: ReformerShape, b: int, s: int, dt: int, task: str = "forward") -> tuple[dict[str, int], int]:
    """The allocated peak of each phase of :func:`reformer_forward` (inputs and activations; no weights) and what
    is left alive after it."""
    live = LiveBytes()
    reformer_forward(live, r, b, s, dt, live.mark, task)
    return live.peaks, live.live
