"""Weight storage formats: dense dtypes, scaled int/fp8, bitsandbytes, GPTQ/AWQ, MX/NV FP4 and GGUF.

The facts (element widths, block sizes, bytes per block, scale layouts, which tensors a format
quantizes, llama.cpp file types) are data: ``data/formats.toml`` and ``data/gguf_mixtures.toml``,
each row with its source. The rules are code, one module each:

* ``base``: the ``Format`` and ``GGMLType`` records;
* ``registry``: the table read from the data files; ``get_format(name)`` resolves any accepted spelling,
  case-insensitively, and raises ConfigError with close matches otherwise; ``list_formats()`` lists them
  all (``memfit formats``);
* ``quantization_config``: the format a config.json ``quantization_config`` names;
* ``tensor_bytes``: ``tensor_role(t)``, what a tensor is to a quantizer (``linear``, ``experts``,
  ``embedding``, ``lm_head``, ``router``, ``vector`` …), which decides whether a format quantizes it, and
  ``quantized_tensor_bytes(fmt, shape)``, the exact bytes of one weight tensor stored in a Hugging
  Face-side format (codes + scales + zeros + code tables, ceil where blocks do not fill);
* ``gguf_mixtures``: ``gguf_tensor_types(spec, fmt)``, the ggml type llama.cpp's ``llama-quantize`` gives
  every tensor for a mixture (Q4_K_M …), after ``src/llama-quant.cpp`` (``tensor_allows_quantization``,
  ``llama_tensor_get_type_impl``, ``tensor_type_fallback``).

Every public name is imported here: ``memfit.formats.X`` is the interface.
"""

from .base import KEPT_BYTES, KEPT_LABEL, Format, GGMLType
from .gguf_mixtures import gguf_tensor_types
from .quantization_config import format_from_quantization_config
from .registry import (
    BNB_QUANT_FORMATS,
    COMPUTE_DTYPE_BYTES,
    bnb_format,
    compute_dtype,
    format_names,
    get_format,
    ggml_type,
    ggml_types,
    gguf_types,
    list_formats,
)
from .tensor_bytes import quantized_tensor_bytes, quantizes, tensor_role

__all__ = [
    "BNB_QUANT_FORMATS",
    "COMPUTE_DTYPE_BYTES",
    "KEPT_BYTES",
    "KEPT_LABEL",
    "Format",
    "GGMLType",
    "bnb_format",
    "compute_dtype",
    "format_from_quantization_config",
    "format_names",
    "get_format",
    "ggml_type",
    "ggml_types",
    "gguf_tensor_types",
    "gguf_types",
    "list_formats",
    "quantized_tensor_bytes",
    "quantizes",
    "tensor_role",
]
