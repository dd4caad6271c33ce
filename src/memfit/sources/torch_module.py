"""``memfit.from_module(model)``: the exact parameters and bytes of a live PyTorch module.

Works on the meta device, CPU or GPU. Tied weights are counted once: parameters are deduplicated
by identity (``Module.parameters()``) and, for real tensors, by storage address, so two
``Parameter`` objects viewing the same memory count once. torch is never imported here; the
module's own objects are used.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ConfigError, MemfitError
from ..spec import ModelSpec, StoredWeights

__all__ = ["from_module"]

# bitsandbytes 4-bit parameters hold two 4-bit codes per uint8 element
_PACKED_PER_ELEMENT = {"Params4bit": 2}


def _storage_key(p: Any) -> tuple[int, int, int, str] | None:
    if getattr(p, "is_meta", False) or str(getattr(p, "device", "meta")) == "meta":
        return None
    try:
        return (int(p.data_ptr()), int(p.numel()), int(p.element_size()), str(p.device))
    except (RuntimeError, AttributeError, TypeError):
        return None


def module_weights(model: Any) -> StoredWeights:
    """Parameters of ``model`` as ``StoredWeights`` (container ``torch``), tied weights once."""
    if not hasattr(model, "parameters"):
        raise ConfigError(f"from_module needs a torch.nn.Module, not {type(model).__name__}")
    seen: set[tuple[int, int, int, str]] = set()
    by_dtype: dict[str, list[int]] = {}
    logical = count = 0
    packed: list[str] = []
    for p in model.parameters():  # yields each Parameter object once
        key = _storage_key(p)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        n = int(p.numel())
        dtype = str(p.dtype).removeprefix("torch.")
        acc = by_dtype.setdefault(dtype, [0, 0])
        acc[0] += n
        acc[1] += n * int(p.element_size())
        factor = _PACKED_PER_ELEMENT.get(type(p).__name__, 1)
        if factor != 1 and type(p).__name__ not in packed:
            packed.append(type(p).__name__)
        logical += n * factor
        count += 1
    stored = sum(b for _, b in by_dtype.values())
    return StoredWeights(
        container="torch", stored_bytes=stored, loaded_bytes=stored, logical_parameters=logical, tensors=count,
        bytes_by_dtype=tuple(sorted(((d, e, b) for d, (e, b) in by_dtype.items()), key=lambda r: (-r[2], r[0]))),
        quantization="bitsandbytes-4bit" if packed else None,
    )


def from_module(model: Any, name: str | None = None) -> ModelSpec:
    """A ``ModelSpec`` for a live ``torch.nn.Module``, with ``stored`` holding its exact parameter bytes.

    For a transformers model (``model.config``) the architecture comes from its config, so every
    estimate works; otherwise the result is a bare parameter count (weights only). Example::

        spec = memfit.from_module(model)
        spec.stored.logical_parameters, spec.stored.bytes_by_dtype
    """
    from .basic import bare_count

    stored = module_weights(model)
    label = name or type(model).__name__
    dominant = stored.bytes_by_dtype[0][0] if stored.bytes_by_dtype else "float16"
    config = getattr(model, "config", None)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        try:
            from .hf_config import spec_from_config

            cfg = to_dict()
            spec = spec_from_config(cfg, name or str(cfg.get("_name_or_path") or label))
            return replace(spec, source=f"module:{label}", stored=stored)
        except MemfitError:
            pass  # a family memfit cannot describe: a bare count still has the exact bytes
    spec = replace(bare_count(stored.logical_parameters, label), dtype=dominant)
    return replace(spec, source=f"module:{label}", stored=stored)
