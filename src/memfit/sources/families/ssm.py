"""State-space models: Mamba and Mamba-2 (falcon_mamba is Mamba's shape)."""

from __future__ import annotations

import math

from ...spec import LayerSpec, ModelSpec, SSMSpec
from .common import Builder, Config, build_model, get_bool, get_float, get_int, layer_count

__all__ = ["BUILDERS"]


def _mamba(cfg: Config, name: str) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    inner = get_int(cfg, "intermediate_size", int(get_float(cfg, "expand", 2) * h))
    rank = cfg.get("time_step_rank", "auto")
    dt_rank = math.ceil(h / 16) if rank in ("auto", None) else get_int(cfg, "time_step_rank")
    ssm = SSMSpec(inner, get_int(cfg, "state_size", 16), get_int(cfg, "conv_kernel", 4), dt_rank=dt_rank,
                  conv_bias=get_bool(cfg, "use_conv_bias", True), proj_bias=get_bool(cfg, "use_bias", False))
    layer = LayerSpec("mamba", ssm=ssm, norms=1, norm_layout="parallel")
    return build_model(cfg, name, h, [layer] * layer_count(cfg), tie=True, position="none", max_pos=0)


def _mamba2(cfg: Config, name: str) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    ssm = SSMSpec(int(get_float(cfg, "expand", 2) * h), get_int(cfg, "state_size", 128), get_int(cfg, "conv_kernel", 4),
                  num_heads=get_int(cfg, "num_heads", 128), head_dim=get_int(cfg, "head_dim", 64),
                  n_groups=get_int(cfg, "n_groups", 8), conv_bias=get_bool(cfg, "use_conv_bias", True),
                  proj_bias=get_bool(cfg, "use_bias", False), chunk_size=get_int(cfg, "chunk_size", 256))
    layer = LayerSpec("mamba2", ssm=ssm, norms=1, norm_layout="parallel")
    return build_model(cfg, name, h, [layer] * layer_count(cfg), position="none", max_pos=0)


BUILDERS: dict[str, Builder] = {
    "falcon_mamba": _mamba,
    "mamba": _mamba,
    "mamba2": _mamba2,
}
