"""Which transformers releases build a family's MoE experts as ``nn.Linear`` modules (``--transformers-version``).

memfit's own profile is transformers 5: the routed experts of a MoE block are fused 3-D parameters and the router a
parameter of its own module, so bitsandbytes (which converts ``nn.Linear`` modules only) leaves them 16-bit. Before
5.0 the families listed in ``data/transformers_modules.toml`` (each row with the source it was read in) built every
expert as a module of ``nn.Linear`` projections and the router as an ``nn.Linear``: ``replace_with_bnb_linear``
quantizes each expert projection as its own ``Params4bit`` (4.48.1 Mixtral: 8 experts × w1 / w2 / w3 per layer).
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

from ..errors import ConfigError

__all__ = ["expert_linears"]

_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[.+\-a-z0-9]*)$")


def _parse(version: str) -> tuple[int, int]:
    m = _VERSION.match(version.strip().lower())
    if m is None:
        raise ConfigError(f"transformers_version {version!r} is not a version such as 4.48.1 or 5.0; give the version "
                          "`pip show transformers` prints")
    return int(m.group(1)), int(m.group(2))


@cache
def _rows() -> tuple[tuple[str, frozenset[str], tuple[int, int], tuple[int, int]], ...]:
    """``data/transformers_modules.toml``: (fact, families, since, until) per row."""
    text = (resources.files("memfit") / "data" / "transformers_modules.toml").read_text(encoding="utf-8")
    out = []
    for row in tomllib.loads(text)["row"]:
        if not str(row.get("source", "")):
            raise ValueError(f"data/transformers_modules.toml: row {row.get('fact')!r} has no source")
        out.append((str(row["fact"]), frozenset(str(f) for f in row["families"]),
                    _parse(str(row.get("since", "4.0"))), _parse(str(row["until"]))))
    return tuple(out)


def expert_linears(version: str | None, family: str) -> bool:
    """True when ``version`` of transformers builds ``family``'s routed experts and router as ``nn.Linear`` modules
    (None: transformers 5, fused experts)."""
    if version is None:
        return False
    v = _parse(version)
    return any(fact == "expert_linears" and family in fams and since <= v < until
               for fact, fams, since, until in _rows())
