"""Read safetensors checkpoints from their headers only: exact counts and bytes, never tensor data.

One job per module, every name importable from here:

* ``safetensors_header``: one file's header read and validated (headers are untrusted input: every length,
  offset, shape and dtype is checked against the file size and the format's rules before anything is believed,
  and every failure is a ``FormatError`` that names the file, the value and the rule);
* ``safetensors_shards``: the files of a sharded checkpoint (``model.safetensors.index.json``);
* ``safetensors_quant``: pre-quantized checkpoints recognised by their tensor names and dtypes (GPTQ / AWQ packed
  int32, FP8 with ``weight_scale_inv``, bitsandbytes 4-bit and 8-bit, gpt-oss MXFP4 ``_blocks``) so the *logical*
  parameter count is the unpacked one, not the count of int32 containers;
* ``safetensors_shapes``: a llama-style description from tensor names when there is no config.json;
* here: the ModelSpec of a checkpoint (``spec_with_stored``, ``load_safetensors``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import FormatError, UnknownModelError, UnsupportedError
from ..spec import ModelSpec
from .safetensors_header import (
    DTYPE_BITS,
    MAX_HEADER_BYTES,
    MAX_RANK,
    MAX_TENSORS,
    Reader,
    SafetensorsHeader,
    TensorEntry,
    parse_header,
    read_header,
)
from .safetensors_quant import stored_weights
from .safetensors_shapes import spec_from_tensor_shapes
from .safetensors_shards import MAX_FILES, MAX_INDEX_BYTES, index_shards, weight_files

__all__ = [
    "DTYPE_BITS",
    "MAX_FILES",
    "MAX_HEADER_BYTES",
    "MAX_INDEX_BYTES",
    "MAX_RANK",
    "MAX_TENSORS",
    "Reader",
    "SafetensorsHeader",
    "TensorEntry",
    "index_shards",
    "load_safetensors",
    "parse_header",
    "read_header",
    "spec_from_tensor_shapes",
    "spec_with_stored",
    "stored_weights",
    "weight_files",
]

_TORCH_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}


def spec_with_stored(headers: Sequence[SafetensorsHeader], config: Mapping[str, Any] | None, name: str,
                     source: str, files: Iterable[str] | None = None) -> ModelSpec:
    """The ModelSpec of a checkpoint: from ``config`` when given and supported, else from tensor names,
    else a bare count; ``stored`` always attached."""
    from .basic import bare_count
    from .hf_config import spec_from_config

    stored = stored_weights(headers, config, files)
    if config is not None:
        try:
            return replace(spec_from_config(config, name), source=source, stored=stored)
        except (UnknownModelError, UnsupportedError):
            pass  # a family memfit cannot describe: fall back to what the headers say (a ConfigError propagates)
    float_dtypes = [(b, d) for d, _, b in stored.bytes_by_dtype if d in _TORCH_DTYPES]
    dtype = _TORCH_DTYPES[max(float_dtypes)[1]] if float_dtypes else "float16"
    shapes = {t.name: t.shape for h in headers for t in h.tensors}
    spec = None if stored.quantization else spec_from_tensor_shapes(shapes, name, stored.logical_parameters, dtype)
    if spec is None:
        spec = replace(bare_count(stored.logical_parameters, name), dtype=dtype)
    return replace(spec, source=source, stored=stored)


def _read_config(folder: Path) -> dict[str, Any] | None:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        return None
    from .basic import load_config_file
    return load_config_file(cfg_path)


def load_safetensors(path: str | Path) -> ModelSpec:
    """A ModelSpec with ``stored`` from a .safetensors file or a folder of them (headers only).

    A ``config.json`` beside the weights describes the architecture; without one the description
    comes from llama-style tensor names, or is a bare parameter count.
    """
    p = Path(path)
    if p.is_dir():
        files = weight_files(p)
        if not files:
            raise FormatError(f"{p} holds no *.safetensors files and no model.safetensors.index.json")
        folder, name = p, p.name
    else:
        files, folder, name = [p], p.parent, p.name.removesuffix(".safetensors")
    headers = [read_header(f) for f in files]
    config = _read_config(folder)
    return spec_with_stored(headers, config, name, str(p), [f.name for f in files])
