"""The parameter tensors transformers itself builds for a config, on the meta device (no memory, no weights).

Used by the generic path (``memfit.sources.generic``) for a ``model_type`` memfit has no builder for: the
config class is looked up in transformers' own table (``CONFIG_MAPPING``; remote code is never run), the
model is built with ``AutoModelForCausalLM.from_config`` under ``torch.device("meta")`` and its unique
parameters (``named_parameters()`` yields a tied weight once, as ``num_parameters()`` counts it) are listed.
transformers and torch are optional: without them, or when the build fails, the result says why in one line.
Builds are cached per config text and refused before building when the config is absurdly large.

The catalog's own generic-path models are not built at all: their tensors ship in
``data/catalog_tensors.json.gz`` (written by ``tools/gen_catalog_tensors.py`` from this same build), keyed by the
SHA-256 of the config text, so listing or pricing them never imports torch (``shipped``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = ["MAX_BUILD_MODULES", "MAX_BUILD_PARAMETERS", "MetaBuild", "builds_refused", "config_key", "meta_build",
           "refused", "shipped", "shipped_disabled"]

MAX_BUILD_PARAMETERS = 20_000_000_000_000  # no model comes near 20 T parameters; above that nothing is built
MAX_BUILD_MODULES = 1_000_000  # layers × (3 × experts + 16): beyond this the build itself would take minutes
_DROPPED = ("quantization_config", "auto_map")  # not architecture; auto_map would point at remote code


@dataclass(frozen=True)
class MetaBuild:
    """What the build gave: every unique parameter (name, shape), transformers' version, or why not."""

    tensors: tuple[tuple[str, tuple[int, ...]], ...] = ()
    version: str = ""
    error: str = ""  # one line; empty when the build worked

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def total(self) -> int:
        n = 0
        for _, shape in self.tensors:
            size = 1
            for d in shape:
                size *= d
            n += size
        return n


_REFUSED = threading.local()


@contextmanager
def builds_refused(why: str) -> Iterator[None]:
    """Within this block, in this thread, nothing is built and transformers is not imported: ``refused()``
    says ``why``. The web server computes under it, so that a visitor's pasted config never costs an import
    of torch and transformers (seconds) inside a request."""
    before = refused()
    _REFUSED.why = why
    try:
        yield
    finally:
        _REFUSED.why = before


def refused() -> str:
    """Why builds are refused in this thread ('' when they are not)."""
    return str(getattr(_REFUSED, "why", ""))


_SHIPPED_OFF = threading.local()


@contextmanager
def shipped_disabled() -> Iterator[None]:
    """Within this block, in this thread, ``shipped`` finds nothing (the generator builds every model anew)."""
    before = getattr(_SHIPPED_OFF, "off", False)
    _SHIPPED_OFF.off = True
    try:
        yield
    finally:
        _SHIPPED_OFF.off = before


def config_key(config_json: str) -> str:
    """The table's key for a config text: its SHA-256, hex."""
    return hashlib.sha256(config_json.encode("utf-8", "surrogatepass")).hexdigest()


@cache
def _table() -> dict[str, Any]:
    try:
        raw = (resources.files("memfit") / "data" / "catalog_tensors.json.gz").read_bytes()
    except (FileNotFoundError, OSError):
        return {}
    doc: dict[str, Any] = json.loads(gzip.decompress(raw))
    return doc


def shipped(config_json: str) -> MetaBuild | None:
    """The build of ``config_json`` as ``tools/gen_catalog_tensors.py`` recorded it for a catalog model, or None
    when the table has no such config (any config a visitor or a checkpoint brings)."""
    if getattr(_SHIPPED_OFF, "off", False):
        return None
    table = _table()
    rows = table.get("builds", {}).get(config_key(config_json))
    if rows is None:
        return None
    return _shipped_build(config_key(config_json), str(table.get("transformers", "")))


@lru_cache(maxsize=64)
def _shipped_build(key: str, version: str) -> MetaBuild:
    rows = _table()["builds"][key]
    return MetaBuild(tuple((str(name), tuple(int(d) for d in shape)) for name, shape in rows), version)


@lru_cache(maxsize=64)
def meta_build(config_json: str, approx_parameters: int = 0, approx_modules: int = 0) -> MetaBuild:
    """Build the model of ``config_json`` (a config.json as JSON text) on the meta device and list its
    parameters. ``approx_parameters`` / ``approx_modules`` (memfit's own estimate) bound what is built."""
    if approx_parameters > MAX_BUILD_PARAMETERS or approx_modules > MAX_BUILD_MODULES:
        return MetaBuild(error=f"not built: about {approx_parameters:,} parameters in {approx_modules:,} modules "
                               "is beyond what memfit builds to count")
    try:
        import torch
        import transformers
    except ImportError:
        return MetaBuild(error="transformers and torch are not installed (pip install transformers torch "
                               "gives the exact count)")
    version = str(transformers.__version__)
    cfg: dict[str, Any] = json.loads(config_json)
    model_type = str(cfg.pop("model_type", ""))
    for key in _DROPPED:
        cfg.pop(key, None)
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_memfit")}
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if model_type not in CONFIG_MAPPING:
        return MetaBuild(version=version, error=f"transformers {version} has no model_type {model_type!r} "
                                                "(memfit never runs a repo's remote code)")
    try:
        with _quiet():
            conf = transformers.AutoConfig.for_model(model_type, **cfg)
            with torch.device("meta"):
                model = _from_config(transformers, conf)
            tensors = tuple((name, tuple(int(d) for d in p.shape)) for name, p in model.named_parameters())
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return MetaBuild(version=version, error=f"transformers {version} could not build {model_type!r} from this "
                                                f"config ({type(e).__name__}: {first})")
    return MetaBuild(tensors, version)


def _from_config(transformers: Any, conf: Any) -> Any:
    """The causal LM of ``conf``; a vision-language config whose class is an image-text-to-text model."""
    try:
        return transformers.AutoModelForCausalLM.from_config(conf, trust_remote_code=False)
    except ValueError:
        return transformers.AutoModelForImageTextToText.from_config(conf, trust_remote_code=False)


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence transformers' logging and Python warnings while building (restored afterwards)."""
    logger = logging.getLogger("transformers")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
