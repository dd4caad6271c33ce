"""Zamba's layer list, as transformers 5.25 ``models/zamba/modeling_zamba.py`` builds it (``ZambaModel.__init__``).

Every layer has its own Mamba mixer (``ZambaMambaDecoderLayer``: an RMSNorm and ``ZambaMambaMixer``, no MLP). A
``hybrid`` layer of ``layers_block_type`` (``ZambaHybridLayer``) runs first the shared transformer block
(``ZambaAttentionDecoderLayer``: attention over ``concat(hidden, original_hidden)``, 2 × hidden wide, then
``ZambaMLP``; its weights tied across the hybrid layers by ``_tied_weights_keys``), then ``linear`` back to the hidden
width, then its own Mamba layer; the cache keeps both its K/V and its Mamba states
(cache_utils.py ``LinearAttentionAndFullAttentionLayer``). The mixer is Mamba-1's (``x_proj``, ``dt_proj`` of
``mamba_dt_rank``, a conv over ``d_inner`` channels, the state ``d_inner × d_state``) run head by head over
``n_mamba_heads`` heads. The parameter tensors stay transformers' own build's (the generic path's tensor source).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..spec import LayerSpec, SSMSpec

__all__ = ["NO_POSITIONS", "zamba_layers", "zamba_mixer"]

# model types with no position embedding at all: ZambaAttention.forward applies no rotary embedding and ZambaModel
# makes no rotary tables (transformers 5.25 modeling_zamba.py; the Mamba layers carry the order)
NO_POSITIONS = ("zamba",)


def zamba_mixer(cfg: Mapping[str, Any], hidden: int) -> SSMSpec:
    """``ZambaMambaMixer.__init__``'s shapes: ``d_inner = mamba_expand × hidden`` in ``n_mamba_heads`` heads."""
    inner = int(cfg.get("mamba_expand") or 2) * hidden
    heads = int(cfg.get("n_mamba_heads") or 1)
    rank = cfg.get("mamba_dt_rank")  # ZambaConfig.__post_init__: "auto" is ceil(hidden / 16)
    return SSMSpec(
        inner,
        int(cfg.get("mamba_d_state") or 16),
        int(cfg.get("mamba_d_conv") or 4),
        dt_rank=rank if isinstance(rank, int) else -(-hidden // 16),
        num_heads=heads,
        head_dim=inner // heads,
        conv_bias=bool(cfg.get("mamba_conv_bias", True)),
        proj_bias=bool(cfg.get("mamba_proj_bias", False)),
    )


def zamba_layers(cfg: Mapping[str, Any], hidden: int, layers: list[LayerSpec]) -> list[LayerSpec]:
    """The generic path's layers made Zamba's: a Mamba layer (no MLP) where the generic reading had a Mamba-2 mixer
    and an MLP; a hybrid layer (the generic reading's attention and MLP) given its own Mamba mixer."""
    ssm = zamba_mixer(cfg, hidden)
    return [
        replace(layer, ssm=ssm) if layer.attention is not None else LayerSpec("mamba", ssm=ssm, norms=1)
        for layer in layers
    ]
