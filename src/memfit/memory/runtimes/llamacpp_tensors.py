"""Per-tensor placement and types in llama.cpp: ``-ot PATTERN=CPU`` (``--override-tensor``), ``--n-cpu-moe``
and the token-embedding / output types that llama-quantize sets apart (``--token-embedding-type``,
``--output-tensor-type``; the ``_L`` / ``_XL`` files keep these two at a higher type).

* ``-ot`` (common/arg.cpp ``--override-tensor``, src/llama-model-loader.cpp): each ``PATTERN=BUFFER`` is a
  regular expression searched (``std::regex_search``) in every tensor's GGUF name (``blk.7.ffn_up_exps.weight``,
  ``output.weight``); a matching tensor is allocated in that buffer type instead of its layer's device. memfit
  models ``=CPU`` (host RAM), the setting used to keep experts or large tensors off the GPU.
* ``--n-cpu-moe N`` is the override ``blk\\.(0..N-1)\\.ffn_(up|down|gate)_exps=CPU``.
* A file read from its GGUF header already carries every tensor's type; for a format priced from a config
  the two type options re-price ``token_embd.weight`` and ``output.weight`` in the given ggml type.
"""

from __future__ import annotations

import re

from ...errors import ConfigError
from ...formats import Format, get_format, ggml_types, gguf_tensor_types
from ...spec import ModelSpec

__all__ = ["gguf_name", "host_tensor_bytes", "parse_overrides", "retyped_bytes"]

EXPERTS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")
MAX_PATTERN = 256


def parse_overrides(text: str | None) -> list[re.Pattern[str]]:
    """``-ot`` items ``PATTERN=CPU`` separated by commas; one clear line for anything else."""
    if not text:
        return []
    if len(text) > 4 * MAX_PATTERN:
        raise ConfigError(f"--override-tensor is {len(text)} characters; at most {4 * MAX_PATTERN}")
    out = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        pattern, sep, buft = item.rpartition("=")
        if not sep or not pattern:
            raise ConfigError(f"--override-tensor {item!r}: expected PATTERN=CPU (e.g. exps=CPU)")
        if buft.strip().upper() != "CPU":
            raise ConfigError(f"--override-tensor {item!r}: only =CPU (host RAM) is modelled; spread layers over "
                              "GPUs with --tensor-split")
        if len(pattern) > MAX_PATTERN:
            raise ConfigError(f"--override-tensor pattern of {len(pattern)} characters; at most {MAX_PATTERN}")
        try:
            out.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"--override-tensor {pattern!r} is not a regular expression ({exc}); "
                              "e.g. exps=CPU") from None
    return out


def gguf_name(kind: str, layer: int | None) -> str:
    """The tensor's GGUF name as llama.cpp's loader sees it (weights; ``blk.<i>.`` for a layer's tensors)."""
    return f"{kind}.weight" if layer is None else f"blk.{layer}.{kind}.weight"


def _gguf(fmt: str, what: str) -> Format:
    f = get_format(fmt)
    if f.kind != "gguf" or f.default_type is None:
        raise ConfigError(f"{what} needs a GGUF format (q4_k_m, q8_0, f16 …), not {fmt}")
    return f


def host_tensor_bytes(spec: ModelSpec, fmt: str, first_gpu: int, head_on_gpu: bool, n_cpu_moe: int,
                      patterns: list[re.Pattern[str]]) -> int:
    """Bytes of the tensors that ``--n-cpu-moe`` or ``-ot …=CPU`` keep in host RAM although their layer (or
    the output layer) is offloaded; each tensor counted once."""
    f = _gguf(fmt, "--n-cpu-moe" if n_cpu_moe else "--override-tensor")
    types = ggml_types()
    total = 0
    for t, type_name in gguf_tensor_types(spec, f):
        if t.layer is None:
            if not (head_on_gpu and t.kind.startswith("output") and patterns):
                continue
        elif t.layer < first_gpu:
            continue  # already on the CPU with its layer
        moe = t.layer is not None and t.layer < n_cpu_moe and t.kind in EXPERTS
        name = gguf_name(t.kind, t.layer)
        if moe or any(p.search(name) for p in patterns):
            total += types[type_name].tensor_bytes(t.shape)
    return total


def retyped_bytes(spec: ModelSpec, fmt: str, kind: str, new_type: str | None) -> int:
    """Bytes the tensor ``kind`` (token_embd or output) gains (or loses) in ``new_type`` instead of the
    format's type; 0 without a new type or such a tensor."""
    if not new_type:
        return 0
    f = _gguf(fmt, f"--{'token-embedding' if kind == 'token_embd' else 'output-tensor'}-type")
    types = ggml_types()
    key = new_type.upper()
    if key not in types:
        raise ConfigError(f"GGUF type {new_type!r} unknown; e.g. q8_0, q6_k, f16, bf16")
    delta = 0
    for t, type_name in gguf_tensor_types(spec, f):
        if t.layer is None and t.kind == kind:
            delta += types[key].tensor_bytes(t.shape) - types[type_name].tensor_bytes(t.shape)
    return delta
