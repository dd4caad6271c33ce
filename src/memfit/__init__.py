"""memfit: how much memory does this model need for what I want to do, and will it fit?

The public API (everything else is internal)::

    import memfit
    spec = memfit.load_model("llama-3.1-8b")        # catalog id, config.json path/dict, "7B", ModelSpec
    memfit.count_parameters(spec).total              # 8,030,261,248
    est = memfit.estimate("llama-3.1-8b", dtype="fp16")
    est.total_bytes, est.components, est.to_json()
    memfit.estimate("llama-3.1-8b", mode="inference", batch=8, context=4096, new_tokens=256)
    memfit.fit("llama-3.1-8b", "rtx 4090", mode="inference", context=8192)  # fits, headroom, blame
    memfit.plan_context("llama-3.1-8b", "rtx 4090", mode="inference")      # longest context that fits
    memfit.fit_matrix("llama-3.1-8b", "rtx 4090")  # precisions × workloads (inference, LoRA, QLoRA, train)
    memfit.plan_device_map("llama-3.1-8b", "0=8GiB,cpu=32GiB")  # device_map="auto": modules per GPU/CPU/disk
    memfit.advise("llama-3.1-70b", "rtx 4090", gpus=2)  # formats that fit, ranked by published quality
"""

from .advisor import Advice, advise
from .device_map import DeviceMapPlan, plan_device_map
from .errors import ConfigError, FormatError, MemfitError, UnknownModelError, UnsupportedError
from .estimate import estimate
from .fit import FitResult, fit
from .hardware import Device, devices, get_device
from .inventory import ParameterCount, Tensor, count_parameters, inventory
from .matrix import FitMatrix, fit_matrix
from .plan import Plan, PlanAnswer, plan, plan_batch, plan_context, plan_gpu_layers, plan_gpus
from .result import Component, Estimate
from .sources.catalog import CatalogEntry, catalog
from .sources.loader import load_model
from .sources.torch_module import from_module
from .spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec, VisionSpec
from .speed import SpeedBound, decode_ceiling
from .whatfits import ModelFit, models_that_fit
from .workload import Workload

__version__ = "0.1.0"

__all__ = [
    "Advice",
    "AttentionSpec",
    "CatalogEntry",
    "Component",
    "ConfigError",
    "Device",
    "DeviceMapPlan",
    "Estimate",
    "FitMatrix",
    "FitResult",
    "FormatError",
    "LayerSpec",
    "MLPSpec",
    "MemfitError",
    "MoESpec",
    "ModelFit",
    "ModelSpec",
    "ParameterCount",
    "Plan",
    "PlanAnswer",
    "SSMSpec",
    "SpeedBound",
    "Tensor",
    "UnknownModelError",
    "UnsupportedError",
    "VisionSpec",
    "Workload",
    "__version__",
    "advise",
    "catalog",
    "count_parameters",
    "decode_ceiling",
    "devices",
    "estimate",
    "fit",
    "fit_matrix",
    "from_module",
    "get_device",
    "inventory",
    "load_model",
    "models_that_fit",
    "plan",
    "plan_batch",
    "plan_context",
    "plan_device_map",
    "plan_gpu_layers",
    "plan_gpus",
]
