"""The files of a sharded safetensors checkpoint: ``model.safetensors.index.json`` read and validated, or
the folder's ``*.safetensors``."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import FormatError
from .safetensors_header import _no_duplicates, _short

MAX_INDEX_BYTES = 100_000_000
MAX_FILES = 100_000


def _index_files(index_path: Path) -> list[str]:
    try:
        size = index_path.stat().st_size
        if size > MAX_INDEX_BYTES:
            raise FormatError(f"{index_path} is {size:,} bytes; an index is at most {MAX_INDEX_BYTES:,}")
        text = index_path.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read {index_path}: {e.strerror or e}") from None
    return index_shards(text, str(index_path))


def index_shards(text: bytes, where: str) -> list[str]:
    """The shard file names of a ``model.safetensors.index.json``, validated (plain names only)."""
    try:
        obj = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates(where))
    except FormatError:
        raise
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{where} is not valid JSON ({str(e)[:120]})") from None
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise FormatError(f"{where} has no 'weight_map' object of tensor name → file name")
    files = sorted(set(wm.values()))
    if len(files) > MAX_FILES:
        raise FormatError(f"{where} names {len(files):,} shard files; at most {MAX_FILES:,} are allowed")
    for name in files:
        if not name.endswith(".safetensors") or "/" in name or "\\" in name or name.startswith("."):
            raise FormatError(f"{where} names shard {_short(name)}; shards must be plain *.safetensors file names "
                              "in the same folder")
    return files


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder: from ``model.safetensors.index.json`` or ``*.safetensors``."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = [folder / name for name in _index_files(index)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FormatError(f"{index} lists shard(s) {', '.join(missing[:3])} that are not in {folder}")
        return files
    return sorted(folder.glob("*.safetensors"))


