"""Read GGUF files from their headers only: architecture metadata, every tensor's type and bytes.

A bounded parser of its own (``gguf.GGUFReader`` memory-maps the whole file and trusts it):
magic ``GGUF``, version 2 or 3, tensor and key/value counts, typed values with length caps, the
tensor infos, alignment. Tensor data is never read; every tensor's offset and size are checked
against the file. Every failure is a ``FormatError`` naming the file, the value and the rule.

The architecture keys (``{arch}.block_count``, ``{arch}.attention.head_count_kv`` …) and the
tensor shapes become a ``ModelSpec``, so the KV-cache and llama.cpp estimates work from a GGUF.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import FormatError
from ..spec import ModelSpec, StoredWeights
from .gguf_description import MAX_LAYERS, spec_from_gguf
from .gguf_header import (
    KEEP_ARRAY,
    KEEP_STRING,
    MAGIC,
    MAX_ARRAY,
    MAX_COUNT,
    MAX_DEPTH,
    MAX_DIMS,
    MAX_KEY,
    MAX_STRING,
    WINDOW,
    GGUFHeader,
    GGUFTensor,
    gguf_type_sizes,
    parse_gguf,
    read_gguf,
)
from .gguf_size import file_bytes

__all__ = ["KEEP_ARRAY", "KEEP_STRING", "MAGIC", "MAX_ARRAY", "MAX_COUNT", "MAX_DEPTH", "MAX_DIMS", "MAX_KEY",
           "MAX_LAYERS", "MAX_STRING", "WINDOW", "GGUFHeader", "GGUFTensor", "gguf_spec", "gguf_type_sizes",
           "load_gguf", "load_gguf_folder", "parse_gguf", "read_gguf", "spec_from_gguf", "split_files",
           "stored_from_gguf"]


# --- split files ------------------------------------------------------------------------------

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_files(path: Path) -> list[Path]:
    """All parts of a split GGUF (``name-00001-of-00003.gguf``), or ``[path]`` for a single file."""
    m = _SPLIT.match(path.name)
    if not m:
        return [path]
    count = int(m.group("count"))
    if not 1 <= count <= 9999:
        raise FormatError(f"{path}: split count {count} must be between 1 and 9999")
    parts = [path.with_name(f"{m.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise FormatError(f"{path} is part of a {count}-file split but {', '.join(missing[:3])} "
                          f"{'is' if len(missing) == 1 else 'are'} missing from {path.parent}")
    return parts


# --- model description ------------------------------------------------------------------------

def _ftype_name(ft: object) -> str | None:
    """``general.file_type`` (enum llama_ftype) -> its llama-quantize name (``Q4_K_M``), from memfit's table."""
    if not isinstance(ft, int) or isinstance(ft, bool):
        return None
    from ..formats import list_formats

    return next((f.ftype for f in list_formats() if f.ftype_id == ft and f.ftype), None)


def stored_from_gguf(headers: Sequence[GGUFHeader]) -> StoredWeights:
    """Sum one model's GGUF headers (all split parts) into ``StoredWeights``."""
    seen: dict[str, str] = {}
    by_type: dict[str, list[int]] = {}
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                raise FormatError(f"tensor {t.name!r} is in both {seen[t.name]} and {h.file}")
            seen[t.name] = h.file
            acc = by_type.setdefault(t.type_name, [0, 0])
            acc[0] += t.numel
            acc[1] += t.nbytes
    stored = sum(b for _, b in by_type.values())
    ftype = _ftype_name(headers[0].metadata.get("general.file_type"))
    if ftype is None and by_type:
        ftype = max(by_type.items(), key=lambda kv: kv[1][1])[0]
    return StoredWeights(
        container="gguf", stored_bytes=stored, loaded_bytes=stored,
        logical_parameters=sum(e for e, _ in by_type.values()), tensors=len(seen),
        bytes_by_dtype=tuple(sorted(((d, e, b) for d, (e, b) in by_type.items()), key=lambda r: (-r[2], r[0]))),
        quantization=f"gguf:{ftype}" if ftype else None, files=tuple(Path(h.file).name for h in headers),
        header_bytes_read=sum(h.bytes_read for h in headers),
        file_bytes=sum(file_bytes(h.data_offset, [t.nbytes for t in h.tensors], h.alignment) for h in headers),
    )


def _spec(headers: Sequence[GGUFHeader], name: str, source: str) -> ModelSpec:
    from ..inventory import count_parameters
    from .basic import bare_count

    stored = stored_from_gguf(headers)
    tensors = [t for h in headers for t in h.tensors]
    try:
        spec = spec_from_gguf(headers[0].metadata, tensors, name)
        count = count_parameters(spec).total if spec is not None else -1
    except Exception:  # a header that parses but describes no coherent model: the count is still exact
        spec, count = None, -1
    if spec is not None and 0 <= count <= stored.logical_parameters:
        if count < stored.logical_parameters:  # e.g. rope_freqs, extra projections the description lacks
            spec = replace(spec, extra=(("gguf:other", stored.logical_parameters - count),))
    else:
        spec = bare_count(stored.logical_parameters, name)
    return replace(spec, source=source, stored=stored)


def load_gguf(path: str | Path) -> ModelSpec:
    """A ModelSpec with ``stored`` from a GGUF file; all parts of a split file are read."""
    p = Path(path)
    files = split_files(p)
    headers = [read_gguf(f) for f in files]
    m = _SPLIT.match(p.name)
    return gguf_spec(headers, m.group("stem") if m else p.name.removesuffix(".gguf"), str(p))


def gguf_spec(headers: Sequence[GGUFHeader], stem: str, source: str) -> ModelSpec:
    """The ModelSpec of one GGUF model's headers (all parts of a split), named by ``general.name``."""
    meta = headers[0].metadata
    count = meta.get("split.count")
    if isinstance(count, int) and count != len(headers):
        raise FormatError(f"{headers[0].file}: split.count = {count} but {len(headers)} file(s) were found")
    name = meta.get("general.name")
    return _spec(headers, name if isinstance(name, str) and name else stem, source)


def load_gguf_folder(folder: Path) -> ModelSpec:
    """The one GGUF model in ``folder`` (a single file or the parts of one split)."""
    models = sorted({_SPLIT.sub(r"\g<stem>", f.name) for f in folder.glob("*.gguf")})
    if len(models) != 1:
        raise FormatError(f"{folder} holds {len(models)} GGUF models ({', '.join(models[:4])}); pass one file")
    first = sorted(folder.glob("*.gguf"))[0]
    return load_gguf(first)
