"""The bundled catalog of popular models (``data/catalog.toml`` + ``data/models/<id>.json``), offline."""

from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ..errors import UnknownModelError

__all__ = ["CatalogEntry", "catalog", "catalog_config", "catalog_rows", "find_entry"]


@dataclass(frozen=True)
class CatalogEntry:
    """One bundled model: its short id, Hub repo, aliases and where its config.json came from."""

    id: str
    repo: str
    aliases: tuple[str, ...]
    source: str
    how: str = ""
    published: str = ""
    notes: str = ""
    overrides: tuple[tuple[str, Any], ...] = ()  # config.json keys merged over the collected copy
    overrides_source: str = ""
    config_url: str = ""  # the Hub config.json the collected copy reproduces
    parameters: int | None = None  # the count transformers builds on the meta device (sourced, for offline use)
    parameters_source: str = ""
    drop: tuple[str, ...] = ()  # keys the collected copy adds that the Hub config.json does not have
    drop_source: str = ""


@cache
def catalog() -> tuple[CatalogEntry, ...]:
    """All bundled models, sorted by id."""
    text = (resources.files("memfit") / "data" / "catalog.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text)["model"]
    return tuple(
        CatalogEntry(r["id"], r["repo"], tuple(r.get("aliases", ())), r["source"], r.get("how", ""),
                     r.get("published", ""), r.get("notes", ""), tuple(r.get("overrides", {}).items()),
                     r.get("overrides_source", ""), r.get("config_url", ""), r.get("parameters"),
                     r.get("parameters_source", ""), tuple(r.get("drop", ())), r.get("drop_source", ""))
        for r in sorted(rows, key=lambda r: r["id"])
    )


@cache
def _index() -> dict[str, CatalogEntry]:
    index: dict[str, CatalogEntry] = {}
    for e in catalog():
        for key in (e.id, *e.aliases, e.repo.split(" ")[0].lower()):
            index[key.lower()] = e
    return index


def find_entry(ref: str) -> CatalogEntry | None:
    """The catalog entry for an id, alias or Hub repo id (case-insensitive), else None."""
    return _index().get(ref.strip().lower())


def suggest(ref: str) -> list[str]:
    """Close catalog ids for a typo."""
    ids = [e.id for e in catalog()] + [a for e in catalog() for a in e.aliases]
    return difflib.get_close_matches(ref.lower(), ids, n=3, cutoff=0.6)


def catalog_config(ref: str) -> tuple[CatalogEntry, dict[str, Any]]:
    """The entry and its config.json dict; UnknownModelError with suggestions when not found."""
    entry = find_entry(ref)
    if entry is None:
        hint = suggest(ref)
        raise UnknownModelError(
            f"{ref!r} is not in the catalog"
            + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else "")
            + " Run 'memfit models' for the list, or pass a config.json path or a parameter count like 7B."
        )
    text = (resources.files("memfit") / "data" / "models" / f"{entry.id}.json").read_text(encoding="utf-8")
    cfg: dict[str, Any] = json.loads(text)
    for key in entry.drop:
        cfg.pop(key, None)
    cfg.update(dict(entry.overrides))
    if entry.parameters is not None:  # the generic path's exact total when transformers is not installed
        from .generic_tensors import REFERENCE_KEY

        cfg[REFERENCE_KEY] = {"parameters": entry.parameters, "source": f"the catalog row ({entry.parameters_source})"}
    return entry, cfg


@cache
def catalog_rows() -> tuple[dict[str, Any], ...]:
    """One row per bundled model for listings (CLI, web): id, repo, aliases, family, exact parameters, source."""
    from ..inventory import count_parameters
    from .families import BUILDERS
    from .hf_config import spec_from_config

    rows = []
    for e in catalog():
        _, cfg = catalog_config(e.id)
        family = cfg.get("model_type")
        nested = cfg.get("text_config")
        text: dict[str, Any] = nested if isinstance(nested, dict) else {}
        rows.append({"id": e.id, "repo": e.repo, "aliases": list(e.aliases), "model_type": family,
                     "architecture": "first-class" if family in BUILDERS else "generic",
                     "parameters": e.parameters if e.parameters is not None
                     else count_parameters(spec_from_config(cfg, e.id)).total,
                     "published": e.published, "source": e.source, "config_url": e.config_url,
                     "transformers_version": str(cfg.get("transformers_version")
                                                 or text.get("transformers_version") or "")})
    return tuple(rows)
