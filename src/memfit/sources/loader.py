"""``load_model``: resolve any model reference to a ``ModelSpec``.

The dispatcher sits above every reader (catalog, config files, safetensors, GGUF, the Hub); what the readers
themselves need (a bare count, reading a config.json) lives below them in ``basic``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UnknownModelError
from ..spec import ModelSpec
from ..units import parse_count
from .basic import bare_count, load_config_file
from .catalog import catalog_config, find_entry, suggest
from .hf_config import spec_from_config

__all__ = ["bare_count", "load_config_file", "load_model"]

_COUNT_LIKE = re.compile(r"^\s*[0-9][0-9_,.]*(e[+-]?[0-9]+)?\s*[kmbgt]?\s*$", re.IGNORECASE)


def load_model(ref: str | Mapping[str, Any] | ModelSpec | int) -> ModelSpec:
    """Resolve a model reference: a ModelSpec, a config dict, a parameter count (``7B``, 11776),
    a catalog id (``llama-3.1-8b``), or a path to a config.json / a folder holding one.
    """
    if isinstance(ref, ModelSpec):
        return ref
    if isinstance(ref, bool):
        raise ConfigError(f"{ref!r} is not a model reference")
    if isinstance(ref, int):
        return bare_count(parse_count(str(ref)))
    if isinstance(ref, Mapping):
        return spec_from_config(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError("the model reference is empty: pass a catalog id, a config.json path or a count like 7B")
    text = ref.strip()
    if _COUNT_LIKE.match(text):
        return bare_count(parse_count(text))
    entry = find_entry(text)
    if entry is not None:
        entry, cfg = catalog_config(text)
        return _with_source(spec_from_config(cfg, entry.id), f"catalog:{entry.id}")
    path = Path(text).expanduser()
    checkpoint = _checkpoint(path, text)
    if checkpoint is not None:
        return checkpoint
    if path.exists() or text.endswith(".json") or ("/" in text and path.parent.exists()):
        return _with_source(spec_from_config(load_config_file(path), path.parent.name if path.is_file()
                                             else path.name), str(path))
    hint = suggest(text)
    raise UnknownModelError(
        f"{text!r} is not a catalog id, a parameter count or an existing path"
        + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ".")
        + " Run 'memfit models' to list the catalog."
    )


def _checkpoint(path: Path, text: str) -> ModelSpec | None:
    """Weights files: a .safetensors / .gguf file, a folder of safetensors shards, or a Hub repo id."""
    if path.is_file() and path.suffix == ".safetensors":
        shard = re.search(r"-(\d+)-of-(\d+)\.safetensors$", path.name)
        if shard and int(shard.group(2)) > 1:  # one file's bytes would be priced with the whole model's count
            index = path.parent / "model.safetensors.index.json"
            use = str(index) if index.is_file() else f"the folder {path.parent}"
            raise ConfigError(f"{path.name} is shard {int(shard.group(1))} of {int(shard.group(2))} of a sharded "
                              f"checkpoint: pass {use} so that every shard is read")
        from .safetensors_reader import load_safetensors
        return load_safetensors(path)
    if path.is_file() and path.name.endswith(".safetensors.index.json"):  # the index of a sharded checkpoint
        from .safetensors_reader import load_safetensors
        return load_safetensors(path.parent)
    if path.is_file() and path.suffix == ".gguf":
        from .gguf_reader import load_gguf
        return load_gguf(path)
    if path.is_dir() and ((path / "model.safetensors.index.json").is_file() or any(path.glob("*.safetensors"))):
        from .safetensors_reader import load_safetensors
        return load_safetensors(path)
    if path.is_dir() and not (path / "config.json").is_file() and any(path.glob("*.gguf")):
        from .gguf_reader import load_gguf_folder
        return load_gguf_folder(path)
    if not path.exists() and not path.parent.is_dir():  # "org/name": not a local path
        from .hub import is_repo_id, load_hub
        if is_repo_id(text):
            return load_hub(text)
    return None


def _with_source(spec: ModelSpec, source: str) -> ModelSpec:
    from dataclasses import replace
    return replace(spec, source=source)
