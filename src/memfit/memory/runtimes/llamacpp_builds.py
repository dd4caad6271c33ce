"""llama.cpp graph generations: which changes to the reserved graph a build has (``data/llamacpp_builds.toml``).

The compute buffer is ggml-alloc's peak over the graph llama.cpp reserves, and that graph changed with
the build: K/V stores by ``ggml_set_rows`` with index inputs (2025), one GLU node for a gated feed-forward
(2025), per-sequence KV streams (2025) and the embeddings input leaf (2026). ``--llamacpp-build`` names a
row; each feature carries the pull request that introduced it in the data file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ...errors import ConfigError

__all__ = ["GraphGeneration", "graph_generation", "graph_generations"]

_FEATURES = ("set_rows", "glu_op", "embd_input", "kv_streams")


@dataclass(frozen=True)
class GraphGeneration:
    """The graph of one generation of llama.cpp builds (the features its reserve graph has)."""

    name: str
    builds: str
    set_rows: bool  # K/V stores by set_rows with i64 row-index inputs (else ggml_cpy into a cache view)
    glu_op: bool  # a gated unit is one GLU node (else silu(gate) × up, both in place)
    embd_input: bool  # the f32 n_embd × T embeddings input leaf
    kv_streams: bool  # one KV stream per sequence unless --kv-unified (else always one stream)
    source: str


@cache
def graph_generations() -> dict[str, GraphGeneration]:
    """The rows of ``data/llamacpp_builds.toml`` by name."""
    text = (resources.files("memfit") / "data" / "llamacpp_builds.toml").read_text(encoding="utf-8")
    out: dict[str, GraphGeneration] = {}
    for row in tomllib.loads(text)["build"]:
        flags = {f: row[f] for f in _FEATURES}
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError(f"data/llamacpp_builds.toml: {row['name']}: {', '.join(_FEATURES)} must be booleans")
        out[str(row["name"])] = GraphGeneration(str(row["name"]), str(row["builds"]), source=str(row["source"]),
                                                **flags)
    return out


def graph_generation(name: str | None) -> GraphGeneration:
    """The generation ``--llamacpp-build`` names (None: ``current``)."""
    rows = graph_generations()
    gen = rows.get(name or "current")
    if gen is None:
        raise ConfigError(f"llamacpp_build = {name!r} must be one of {', '.join(rows)}; "
                          "pick the generation of the llama.cpp build you run")
    return gen
