"""A bare parameter count asked for more than its weights: a rule-of-thumb estimate, clearly labelled.

A count (``70B``) has no architecture, so the KV cache, activations and runtime buffers cannot be derived. For
inference memfit borrows them from the catalog's nearest plain architecture of that size (a dense decoder with
attention in every layer, the closest in log-parameters) and keeps the count's own weights (the seed's
arithmetic: count × bytes per weight). The result says so in its name, in ``details["rule_of_thumb"]`` and in
a note naming the model used; a catalog id or a config.json gives the real estimate.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from functools import cache

from .errors import UnsupportedError
from .hardware import Device
from .inventory import count_parameters
from .memory.weights import weights_component
from .result import Estimate
from .spec import ModelSpec
from .workload import Workload

__all__ = ["RULE_OF_THUMB_RUNTIMES", "nearest_architecture", "rule_of_thumb"]

# the runtimes whose memory is weights plus what the architecture adds; vLLM and SGLang size their KV pool from
# what the weights leave on the device, which a borrowed architecture would make up
RULE_OF_THUMB_RUNTIMES = ("transformers", "llamacpp", "ollama")


@cache
def _plain_catalog() -> tuple[tuple[str, int], ...]:
    """(catalog id, parameters) of every plain dense decoder in the catalog: attention in every layer, no
    experts, not described by the generic path."""
    from .sources.catalog import catalog
    from .sources.loader import load_model

    out = []
    for entry in catalog():
        spec = load_model(entry.id)
        if spec.moe_layers or spec.is_generic or len(spec.attention_layers) != spec.num_layers:
            continue
        out.append((entry.id, count_parameters(spec).total))
    return tuple(out)


def nearest_architecture(parameters: int) -> tuple[str, int]:
    """The catalog's plain dense decoder nearest to ``parameters`` (in log-parameters; ties: the smaller id)."""
    return min(_plain_catalog(), key=lambda row: (abs(math.log(row[1] / parameters)), row[0]))


def rule_of_thumb(bare: ModelSpec, wl: Workload, device: Device | None,
                  estimate_spec: Callable[[ModelSpec, Workload, Device | None], Estimate]) -> Estimate:
    """Inference for a bare count: ``estimate_spec`` on the nearest catalog architecture, with the count's own
    weights in place of that model's, labelled as a rule of thumb."""
    from .sources.loader import load_model

    if wl.runtime not in RULE_OF_THUMB_RUNTIMES:
        raise UnsupportedError(f"a bare parameter count has no architecture, and --runtime {wl.runtime} sizes its "
                               "KV pool from it: pass a catalog id or a config.json (or use --runtime "
                               f"{', '.join(RULE_OF_THUMB_RUNTIMES)} for a rule-of-thumb estimate)")
    params = count_parameters(bare).total
    proxy_id, proxy_params = nearest_architecture(params)
    dtype = wl.dtype or "float16"  # a bare count is float16 unless told (as its weights-only estimate)
    est = estimate_spec(load_model(proxy_id), wl.replace(dtype=dtype), device)
    own = weights_component(bare, dtype)
    swap = own.bytes - sum(c.bytes for c in est.components if c.name == "weights" and c.on_device)
    first = next(i for i, c in enumerate(est.components) if c.name == "weights")
    comps = tuple(own if i == first else c for i, c in enumerate(est.components) if i == first or c.name != "weights")
    label = {"model": proxy_id, "parameters": proxy_params, "basis": "KV cache, activations and buffers of the "
             "catalog's nearest plain dense architecture; weights from the count"}
    note = (f"rule of thumb: {bare.name} has no architecture; the KV cache, activations and buffers are those of "
            f"{proxy_id} ({proxy_params:,} parameters, the catalog's nearest plain dense model), the weights "
            f"{params:,} × the {dtype} bytes per weight; pass a catalog id or a config.json for an estimate")
    return replace(est, model=f"{bare.name} (rule of thumb: {proxy_id}'s architecture)",
                   parameters=count_parameters(bare), components=comps,
                   allocated_bytes=None if est.allocated_bytes is None else est.allocated_bytes + swap,
                   notes=(note, *est.notes), details={**est.details, "rule_of_thumb": label})
