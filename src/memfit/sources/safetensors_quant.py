"""Pre-quantized checkpoints recognised by their tensor names and dtypes (GPTQ / AWQ packed int32, FP8 with
``weight_scale_inv``, bitsandbytes 4-bit and 8-bit, gpt-oss MXFP4 ``_blocks``), so that the *logical* parameter
count is the unpacked one, not the count of int32 containers; the headers of one checkpoint summed into
``StoredWeights``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError
from ..spec import StoredWeights
from .safetensors_header import SafetensorsHeader, TensorEntry, _is_int, _short


@dataclass(frozen=True)
class _Analysis:
    logical: int
    host_only: int  # bytes parsed to host objects, not held on the device
    methods: tuple[str, ...]


_FP8 = ("F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ")
_QUANT_METHOD_NAMES = {"gptq": "gptq", "awq": "awq", "fp8": "fp8", "bitsandbytes": "bitsandbytes", "mxfp4": "mxfp4",
                       "compressed-tensors": "compressed-tensors", "fbgemm_fp8": "fp8"}


def _config_bits(qcfg: Mapping[str, Any]) -> int | None:
    bits = qcfg.get("bits", qcfg.get("w_bit"))
    return bits if _is_int(bits) and bits in (2, 3, 4, 8) else None


def _compressed_bits(qcfg: Mapping[str, Any]) -> int | None:
    groups = qcfg.get("config_groups")
    if isinstance(groups, Mapping):
        for group in groups.values():
            weights = group.get("weights") if isinstance(group, Mapping) else None
            bits = weights.get("num_bits") if isinstance(weights, Mapping) else None
            if _is_int(bits) and bits in (2, 4, 8):
                return int(bits)
    return None


def _analyze(tensors: Sequence[TensorEntry], qcfg: Mapping[str, Any]) -> _Analysis:
    by_name = {t.name: t for t in tensors}
    has_fp8 = any(t.dtype in _FP8 for t in tensors)
    aux: set[str] = set()
    logical: dict[str, int] = {}
    methods: list[str] = []
    host_only = 0

    quant_states: dict[str, list[str]] = {}  # bitsandbytes: weight name -> its serialized quant_state blobs
    for name in by_name:
        if ".quant_state." in name:
            quant_states.setdefault(name.split(".quant_state.", 1)[0], []).append(name)

    def add(method: str) -> None:
        if method not in methods:
            methods.append(method)

    for t in tensors:
        name = t.name
        if name.endswith(".qweight") and t.dtype in ("I32", "U32") and len(t.shape) == 2:
            base = name[: -len(".qweight")]
            scales, qzeros = by_name.get(base + ".scales"), by_name.get(base + ".qzeros")
            bits = _config_bits(qcfg)
            if bits is None and scales is not None and qzeros is not None and len(scales.shape) == 2 \
                    and len(qzeros.shape) == 2 and scales.shape[1]:
                ratio = 32 * qzeros.shape[1] / scales.shape[1]
                bits = int(ratio) if ratio in (2, 3, 4, 8) else None
            bits = bits or 4
            logical[name] = t.numel * 32 // bits
            gptq = scales is not None and len(scales.shape) == 2 and scales.shape[1] == t.shape[1]
            method = str(qcfg.get("quant_method") or ("gptq" if gptq else "awq"))
            add(f"{method}-{bits}bit")
            aux.update(base + s for s in (".qzeros", ".scales", ".g_idx"))
        elif name.endswith(".weight_scale_inv"):
            aux.add(name)
            add("fp8-block")
        elif name.endswith("_blocks") and t.dtype == "U8" and name[: -len("_blocks")] + "_scales" in by_name:
            logical[name] = t.numel * 2  # two FP4 (E2M1) values per byte
            aux.add(name[: -len("_blocks")] + "_scales")
            add("mxfp4")
        elif name.endswith(".weight.absmax") and getattr(by_name.get(name[:-7]), "dtype", None) == "U8":
            weight = name[: -len(".absmax")]
            logical[weight] = by_name[weight].numel * 2  # two 4-bit codes per byte
            aux.update(weight + s for s in (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"))
            kind = "4bit"
            for other in quant_states.get(weight, ()):
                aux.add(other)
                host_only += by_name[other].nbytes
                kind = other.rsplit("__", 1)[-1] if "__" in other else kind
            add(f"bitsandbytes-{kind}")
        elif name.endswith(".SCB"):
            base = name[: -len(".SCB")]
            aux.update((name, base + ".weight_format"))
            add("bitsandbytes-int8")
        elif name.endswith(".weight_packed") and t.dtype in ("I32", "U32"):  # compressed-tensors pack-quantized
            base = name[: -len(".weight_packed")]
            bits = _compressed_bits(qcfg) or 4
            logical[name] = t.numel * 32 // bits
            aux.update(base + s for s in (".weight_scale", ".weight_shape", ".weight_zero_point", ".weight_g_idx"))
            add(f"compressed-tensors-{bits}bit")
        elif name.endswith(".weight") and t.dtype == "U8" and name + "_scale_2" in by_name:
            # NVFP4 (ModelOpt): two FP4 (E2M1) values per byte, an FP8 scale per 16, an fp32 global scale
            logical[name] = t.numel * 2
            aux.update((name + "_scale", name + "_scale_2", name[: -len(".weight")] + ".input_scale"))
            add("nvfp4")
        elif has_fp8 and name.rsplit(".", 1)[-1] in ("weight_scale", "input_scale", "output_scale", "k_scale",
                                                     "v_scale"):
            aux.add(name)
        elif t.dtype in _FP8:
            add("fp8")
    if "fp8-block" in methods and "fp8" in methods:
        methods.remove("fp8")
    total = sum(0 if t.name in aux else logical.get(t.name, t.numel) for t in tensors)
    return _Analysis(total, host_only, tuple(methods))


def stored_weights(headers: Sequence[SafetensorsHeader], config: Mapping[str, Any] | None = None,
                   files: Iterable[str] | None = None) -> StoredWeights:
    """Sum the headers of one checkpoint into ``StoredWeights`` (duplicate names across shards rejected).

    ``loaded_bytes`` is what a runtime that runs the stored format natively holds on the device:
    the stored bytes minus serialized metadata that is parsed into host objects (bitsandbytes
    ``quant_state`` blobs). Packed formats (GPTQ, AWQ, FP8, bitsandbytes, MXFP4) stay packed.
    """
    seen: dict[str, str] = {}
    tensors: list[TensorEntry] = []
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                raise FormatError(f"tensor {_short(t.name)} is in both {seen[t.name]} and {h.file}; "
                                  "a checkpoint names each tensor once")
            seen[t.name] = h.file
            tensors.append(t)
    qcfg_raw = (config or {}).get("quantization_config")
    qcfg: Mapping[str, Any] = qcfg_raw if isinstance(qcfg_raw, Mapping) else {}
    analysis = _analyze(tensors, qcfg)
    by_dtype: dict[str, list[int]] = {}
    for t in tensors:
        acc = by_dtype.setdefault(t.dtype, [0, 0])
        acc[0] += t.numel
        acc[1] += t.nbytes
    stored = sum(t.nbytes for t in tensors)
    quant = "+".join(analysis.methods) or None
    method = qcfg.get("quant_method")
    if quant is None and isinstance(method, str) and method:
        quant = _QUANT_METHOD_NAMES.get(method, method)
    return StoredWeights(
        container="safetensors",
        stored_bytes=stored,
        loaded_bytes=stored - analysis.host_only,
        logical_parameters=analysis.logical,
        tensors=len(tensors),
        bytes_by_dtype=tuple(sorted(((d, e, b) for d, (e, b) in by_dtype.items()), key=lambda r: (-r[2], r[0]))),
        quantization=quant,
        files=tuple(files) if files is not None else tuple(h.file for h in headers),
        header_bytes_read=sum(h.bytes_read for h in headers),
    )


