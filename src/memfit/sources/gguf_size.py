"""GGUF file size on disk: the header (key/values, tensor infos) and the aligned tensor data.

The layout GGUF writers produce (llama.cpp ``ggml/src/gguf.cpp`` ``gguf_write_to_buf``, gguf-py
``GGUFWriter``): a 24-byte preamble (magic, version, tensor count, key/value count), every key/value
(``u64`` key length + key + ``u32`` type + value), every tensor info (``u64`` name length + name +
``u32`` n_dims + ``u64`` per dimension + ``u32`` type + ``u64`` offset), zero padding to
``general.alignment`` (default 32), then each tensor's data padded to the alignment.

So a file is exactly ``PAD(header, alignment) + Σ PAD(tensor bytes, alignment)``. For a file memfit
read, every term is known (``file_bytes``); for a GGUF format priced for a spec from config.json the
tensor infos and data are computed and the key/values (architecture keys, tokenizer, chat template)
are not known: ``priced_file_size`` says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_ALIGNMENT", "GGUFFileSize", "file_bytes", "file_size", "kv_bytes", "pad",
           "priced_file_size", "tensor_info_bytes", "value_bytes"]

DEFAULT_ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT
PREAMBLE = 4 + 4 + 8 + 8  # magic, version, n_tensors, n_kv
_SCALAR_BYTES = {"u8": 1, "i8": 1, "u16": 2, "i16": 2, "u32": 4, "i32": 4, "f32": 4, "bool": 1,
                 "u64": 8, "i64": 8, "f64": 8}


def pad(n: int, alignment: int) -> int:
    """``GGML_PAD``: ``n`` rounded up to a multiple of ``alignment``."""
    return -(-n // alignment) * alignment


def value_bytes(vtype: str, value: Any) -> int:
    """Serialized bytes of one GGUF value of type ``vtype`` (a scalar name, ``str``, or ``array:<type>``
    with ``value`` the list of elements)."""
    if vtype in _SCALAR_BYTES:
        return _SCALAR_BYTES[vtype]
    if vtype == "str":
        return 8 + len(str(value).encode("utf-8"))
    if vtype.startswith("array:"):
        etype = vtype.removeprefix("array:")
        return 4 + 8 + sum(value_bytes(etype, v) for v in value)
    raise ValueError(f"GGUF value type {vtype!r} is not one of {sorted(_SCALAR_BYTES)}, str, array:<type>")


def kv_bytes(key: str, vtype: str, value: Any) -> int:
    """One key/value pair as written: key string, ``u32`` type, value."""
    return 8 + len(key.encode("utf-8")) + 4 + value_bytes(vtype, value)


def tensor_info_bytes(name: str, n_dims: int) -> int:
    """One tensor info as written: name string, ``u32`` n_dims, ``u64`` dims, ``u32`` type, ``u64`` offset."""
    return 8 + len(name.encode("utf-8")) + 4 + 8 * n_dims + 4 + 8


@dataclass(frozen=True)
class GGUFFileSize:
    """A GGUF file's bytes: ``header`` (padded to the alignment) + ``data`` (each tensor padded)."""

    header: int
    data: int
    not_counted: tuple[str, ...] = ()  # parts of the file the figure leaves out (unknown metadata)

    @property
    def total(self) -> int:
        return self.header + self.data

    def to_json(self) -> dict[str, object]:
        return {"gguf_file_bytes": self.total, "gguf_header_bytes": self.header, "gguf_tensor_data_bytes": self.data,
                "gguf_file_not_counted": list(self.not_counted)}


def file_size(metadata: Iterable[tuple[str, str, Any]], tensors: Iterable[tuple[str, int, int]],
              alignment: int = DEFAULT_ALIGNMENT) -> GGUFFileSize:
    """The size of a GGUF file holding ``metadata`` ((key, type, value) triples, ``general.alignment``
    among them when not the default) and ``tensors`` ((name, n_dims, data bytes) in file order)."""
    header = PREAMBLE + sum(kv_bytes(k, t, v) for k, t, v in metadata)
    data = 0
    for name, n_dims, nbytes in tensors:
        header += tensor_info_bytes(name, n_dims)
        data += pad(nbytes, alignment)
    return GGUFFileSize(pad(header, alignment), data)


def file_bytes(data_offset: int, tensor_bytes: Sequence[int], alignment: int) -> int:
    """A file whose header was read: the data section starts at ``data_offset`` (already padded) and
    holds each tensor padded to the alignment."""
    return data_offset + sum(pad(n, alignment) for n in tensor_bytes)


def gguf_tensor_name(kind: str, layer: int | None, is_bias: bool) -> str:
    """llama.cpp's name of a tensor: ``blk.{layer}.{kind}.weight``, ``token_embd.weight`` …"""
    suffix = "bias" if is_bias else "weight"
    return f"blk.{layer}.{kind}.{suffix}" if layer is not None else f"{kind}.{suffix}"


def priced_file_size(tensors: Iterable[tuple[Any, str]], type_bytes: Mapping[str, Any],
                     vocab_size: int) -> GGUFFileSize:
    """The file a GGUF conversion of a spec would be: ``tensors`` are ``(inventory tensor, ggml type
    name)`` pairs (``formats.gguf_tensor_types``), ``type_bytes`` the ggml types. The tensor infos and
    data are computed; the key/values are not known without the converted model's tokenizer."""
    rows = [(gguf_tensor_name(t.kind, t.layer, t.is_bias), len(t.shape), type_bytes[name].tensor_bytes(t.shape))
            for t, name in tensors]
    size = file_size((), rows)
    return GGUFFileSize(size.header, size.data, (
        f"the metadata key/values: tokenizer ({vocab_size:,} token strings, scores, types and merges), chat "
        "template, architecture and general.* keys (not known without the converted file)",))
