"""memfit: how much memory does this model need for what I want to do, and will it fit?

The public API (everything else is internal)::

    import memfit
    spec = memfit.load_model("llama-3.1-8b")        # catalog id, config.json path/dict, "7B", ModelSpec
    memfit.count_parameters(spec).total              # 8,030,261,248
    est = memfit.estimate("llama-3.1-8b", dtype="fp16")
    est.total_bytes, est.components, est.to_json()
    memfit.estimate("llama-3.1-8b", mode="inference", batch=8, context=4096, new_tokens=256)
"""

from .errors import ConfigError, FormatError, MemfitError, UnknownModelError, UnsupportedError
from .estimate import estimate
from .inventory import ParameterCount, Tensor, count_parameters, inventory
from .result import Component, Estimate
from .sources.catalog import CatalogEntry, catalog
from .sources.loader import load_model
from .sources.torch_module import from_module
from .spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec, VisionSpec
from .workload import Workload

__version__ = "0.1.0"

__all__ = [
    "AttentionSpec",
    "CatalogEntry",
    "Component",
    "ConfigError",
    "Estimate",
    "FormatError",
    "LayerSpec",
    "MLPSpec",
    "MemfitError",
    "MoESpec",
    "ModelSpec",
    "ParameterCount",
    "SSMSpec",
    "Tensor",
    "UnknownModelError",
    "UnsupportedError",
    "VisionSpec",
    "Workload",
    "__version__",
    "catalog",
    "count_parameters",
    "estimate",
    "from_module",
    "inventory",
    "load_model",
]
