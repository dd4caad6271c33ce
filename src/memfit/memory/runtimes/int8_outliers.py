"""LLM.int8 (bitsandbytes ``Linear8bitLt``, threshold 6.0): how many outlier columns the down projection has.

bitsandbytes splits a matmul's input by column: a column holding any value of magnitude ≥ 6 is an outlier column,
multiplied in 16-bit (its weight rows copied out of the int8 matrix and dequantised), the rest in int8. The memory
of that split grows with the number of outlier columns ``k``:

* the down projection's input act(gate)·up (``3·I`` bytes per token with its int8 codes), ``subA`` (the outlier
  columns of the input, fp16: ``2·k`` bytes per token) and the dequantised weight columns (int8 copy, then fp32
  twice: ``9·h·k`` bytes).

How many columns are outliers depends on the weights, and memfit cannot see them:

* **few** in trained checkpoints: Dettmers et al. 2022, "LLM.int8(): 8-bit Matrix Multiplication for Transformers
  at Scale" (arXiv 2208.07339): more than 99.9 % of values are multiplied in 8-bit, and at 6.7B the outliers are
  concentrated in about 6 feature dimensions. The lower end here is 0.1 % of the columns (at least 1), and the
  figure memfit uses by default (``int8_outliers = "trained"``);
* **all columns** in randomly initialised weights (the H100 measurement ``mistral-7b-v0.1/int8-gen-b1-s2048``: the
  heavy-tailed product of two random projections exceeds 6 in nearly every column once a prompt has ≥ 100
  tokens). This is the upper end, a safe bound, used only when asked (``--int8-outliers all``); ``memfit
  validate`` asks for it, since every recorded case is randomly initialised.

The estimate's note gives both ends and says which one it used.

How many columns a layer has also decides the caching allocator's reserve (``transformers_pool_int8.py``): the
buffers of the outlier columns (``subA``, the int8 weight columns, two fp32 and one 16-bit dequantisation) are sized
by ``k``, so a layer whose down projection has more outlier columns than every layer before it (in 2 MiB steps of
the fp32 buffers: 128 columns at a hidden size of 4,096) cannot reuse their cached blocks and makes new segments.
A flat count (``trained``, ``all``) makes them once. Randomly initialised weights (``random``, what ``memfit
validate`` asks for, since every recorded case is randomly initialised) do not have a flat count: the first layers'
token rows are correlated (a prompt of uniformly drawn token ids repeats ids; causal attention averages the rows), so
fewer columns hold a value ≥ 6 there. Their counts per layer are a property of the random model and its prompt, not
of the memory measured: ``tools/int8_outlier_profile.py`` computes them with a CPU forward of the model as
initialised (``data/int8_outliers_random.toml``, each row with its source); a model without a row there gets every
column in every layer (``all``).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from functools import cache
from typing import Any

from ...spec import ModelSpec
from ...units import fmt_bytes

__all__ = ["down_projection_bytes", "layer_outlier_columns", "outlier_columns", "outlier_range_note",
           "random_profile"]

REAL_CHECKPOINT_FRACTION = 0.001  # > 99.9 % of values in 8-bit (arXiv 2208.07339, abstract)


def outlier_columns(inner: int, tokens: int, *, trained: bool = False) -> int:
    """Outlier columns of a down projection with ``inner`` input features over ``tokens`` tokens.

    ``trained=False``: the upper end (random weights: every column once there are ≥ 100 tokens, fewer tokens
    reach fewer columns); ``trained=True``: the lower end, 0.1 % of the columns."""
    if trained:
        return max(1, -(-inner // round(1 / REAL_CHECKPOINT_FRACTION)))
    return inner if tokens >= 100 else max(1, inner * tokens // 100)


def layer_outlier_columns(spec: ModelSpec, tokens: int, mode: str) -> list[int]:
    """Outlier columns of every layer's down projection (0 for a layer without an MLP) over ``tokens`` tokens:
    ``trained`` and ``all`` the same in every layer (:func:`outlier_columns`), ``random`` the model's computed
    profile where ``data/int8_outliers_random.toml`` has one, else every column."""
    counts = [outlier_columns(lay.mlp.intermediate_size, tokens, trained=mode == "trained") if lay.mlp else 0
              for lay in spec.layers]
    if mode == "random":
        return random_profile(spec, tokens) or counts
    return counts


def random_profile(spec: ModelSpec, tokens: int) -> list[int] | None:
    """The computed per-layer counts of a randomly initialised model (matched on hidden size, MLP width, layers,
    vocabulary and tokens), or None."""
    inner = {lay.mlp.intermediate_size for lay in spec.layers if lay.mlp}
    key = (spec.hidden_size, inner.pop() if len(inner) == 1 else 0, len(spec.layers), spec.vocab_size, tokens)
    for row in _profiles():
        if (row["hidden_size"], row["intermediate_size"], row["num_layers"], row["vocab_size"],
                row["tokens"]) == key:
            return [int(k) for k in row["down_proj"]]
    return None


@cache
def _profiles() -> list[dict[str, Any]]:
    text = importlib.resources.files("memfit").joinpath("data", "int8_outliers_random.toml").read_text("utf-8")
    rows: list[dict[str, Any]] = tomllib.loads(text).get("profile", [])
    return rows


def down_projection_bytes(tokens: int, inner: int, hidden: int, k: int) -> int:
    """Bytes alive in the LLM.int8 down projection with ``k`` outlier columns (see the module docstring)."""
    return tokens * 3 * inner + tokens * k * 2 + 9 * hidden * k


def outlier_range_note(tokens: int, inner: int, hidden: int, used: str = "trained") -> str:
    """The note an int8 estimate carries: the range between few and all outlier columns, and which one is used
    (``used``: ``"trained"``, the default, or ``"all"``, the safe bound asked for)."""
    k_all, k_few = outlier_columns(inner, tokens), outlier_columns(inner, tokens, trained=True)
    hi, lo = down_projection_bytes(tokens, inner, hidden, k_all), down_projection_bytes(tokens, inner, hidden, k_few)
    few = (f"{fmt_bytes(lo)} with {k_few:,} (0.1 % of the columns, trained checkpoints per the LLM.int8 paper, "
           f"arXiv 2208.07339)")
    every = f"{fmt_bytes(hi)} with {k_all:,} outlier columns (every column, as in randomly initialised weights)"
    if used == "all":
        return (f"LLM.int8 outliers: the down projection's buffers are {every}: the safe bound, used here as asked "
                f"(--int8-outliers all), and {few}")
    if used == "random":
        return (f"LLM.int8 outliers: randomly initialised weights (--int8-outliers random): the layers' computed "
                f"outlier columns where memfit has the model's profile, else {every}; {few} in a trained checkpoint")
    return (f"LLM.int8 outliers: the down projection's buffers are {few}, used here, and {every}: the safe bound, "
            f"up to {fmt_bytes(hi - lo)} more when that projection is the peak (--int8-outliers all)")
