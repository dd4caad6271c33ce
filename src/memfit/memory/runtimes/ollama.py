"""Ollama's defaults on top of the llama.cpp profile: the context it picks by VRAM, its parallel slots,
KV cache type and flash attention, each from ``data/ollama.toml`` with its source.

Ollama runs llama.cpp's graph; what it changes is the settings. ``ollama_defaults(vram)`` says which
it applies on a GPU of ``vram`` bytes, and which of them could not be pinned with a source (those are
named in ``notes`` so that the output says so).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from ...hardware import Device
from ...result import Estimate
from ...spec import ModelSpec
from ...workload import Workload
from .llamacpp import estimate_llamacpp

__all__ = ["OllamaDefaults", "estimate_ollama", "ollama_context", "ollama_defaults", "ollama_facts"]

GIB = 1 << 30


@dataclass(frozen=True)
class OllamaDefaults:
    """What Ollama sets when the user sets nothing: llama.cpp's ``-c`` is ``context × num_parallel``."""

    context: int
    num_parallel: int
    kv_type: str
    flash_attn: bool
    notes: tuple[str, ...]


@cache
def ollama_facts() -> dict[str, Any]:
    """``data/ollama.toml``, parsed."""
    text = (resources.files("memfit") / "data" / "ollama.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def ollama_context(vram_bytes: int) -> int:
    """Ollama's default context for a GPU of ``vram_bytes``: the first tier whose bound is above it."""
    for tier in ollama_facts()["context"]["tiers"]:
        bound = int(tier["below_gib"])
        if bound == 0 or vram_bytes < bound * GIB:
            return int(tier["context"])
    raise ValueError("data/ollama.toml: the context tiers need a last tier with below_gib = 0")


def ollama_defaults(vram_bytes: int) -> OllamaDefaults:
    """Ollama's defaults on a GPU of ``vram_bytes``, with a note for each default not pinned by a source."""
    f = ollama_facts()
    notes = [f"Ollama default {name.replace('_', ' ')}: {f[name]['source']}"
             for name in ("num_parallel", "kv_cache_type", "flash_attention") if not f[name]["pinned"]]
    notes.append(f"Ollama context default by VRAM ({f['context']['source']}); not pinned: {f['context']['not_pinned']}")
    return OllamaDefaults(ollama_context(vram_bytes), int(f["num_parallel"]["value"]),
                          str(f["kv_cache_type"]["value"]), bool(f["flash_attention"]["value"]), tuple(notes))


def estimate_ollama(spec: ModelSpec, wl: Workload, device: Device | None) -> Estimate:
    """llama.cpp's buffers under Ollama's defaults: ``--batch`` is ``OLLAMA_NUM_PARALLEL``, ``--kv-dtype`` unset
    is Ollama's KV cache type. The context is ``wl.context`` as it is: the commands put Ollama's default for the
    GPU's VRAM there when the user gave no ``--context`` (``rules.runtime_context``)."""
    d = ollama_defaults(device.memory_bytes if device is not None else 0)
    run = wl.replace(runtime="llamacpp", kv_dtype=wl.kv_dtype or d.kv_type)
    est = estimate_llamacpp(spec, run)
    details = {**est.details, "runtime": "ollama", "ollama_context": wl.context,
               "ollama_default_context": d.context if device is not None else None,
               "ollama_num_parallel": wl.batch, "ollama_kv_cache_type": run.kv_dtype}
    return replace(est, details=details, notes=(*est.notes, *d.notes))
