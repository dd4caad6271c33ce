"""Image inputs for the simulator's image-text cases (``params["images"]``: images per sequence).

Developer tool beside ``simulate_memory.py``: builds what the family's processor would hand the model for ``images``
images of ``size`` × ``size`` pixels per sequence: the prompt with each image's placeholder tokens (as many as the
tower's features for that image) and the pixel tensor in the model's layout. The rest of the prompt is text tokens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch


@contextlib.contextmanager
def scalar_lists() -> Iterator[None]:
    """``torch.tensor([0-d tensors])`` reads their data directly, which fake tensors have not (Qwen-VL's
    get_rope_index builds its position deltas so); read them through ``.item()``, which the simulator answers from
    the shadow values it keeps for small integer tensors."""
    orig = torch.tensor

    def tensor(data: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        if isinstance(data, (list, tuple)) and data and all(isinstance(x, torch.Tensor) and x.dim() == 0
                                                              for x in data):
            data = [x.item() for x in data]
        return orig(data, *args, **kwargs)

    torch.tensor = tensor  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.tensor = orig  # type: ignore[assignment]


def image_inputs(cfg: Any, batch: int, seq: int, images: int, dtype: torch.dtype,
                 size: int = 1024) -> tuple[torch.Tensor, dict[str, Any]]:
    """(input_ids, extra model kwargs) for ``images`` images per sequence beside ``seq`` text tokens."""
    kind = cfg.model_type
    if kind == "llava":
        v = cfg.vision_config
        side = v.image_size // v.patch_size
        per = side * side + (1 if cfg.vision_feature_select_strategy == "full" else 0)
        pixels = torch.zeros(batch * images, 3, v.image_size, v.image_size, dtype=dtype)
        ids = torch.randint(100, 1000, (batch, seq + per * images))
        ids[:, 1:1 + per * images] = cfg.image_token_index
        return ids, {"pixel_values": pixels}
    if kind in ("qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe"):
        v = cfg.vision_config
        merge = v.spatial_merge_size
        unit = v.patch_size * merge
        side = -(-size // unit) * merge  # patches per side, a multiple of the merge size (the processor's resize)
        per = side * side // (merge * merge)
        grid = torch.tensor([[1, side, side]] * (batch * images))
        pixels = torch.zeros(batch * images * side * side, 3 * v.temporal_patch_size * v.patch_size ** 2, dtype=dtype)
        ids = torch.randint(100, 1000, (batch, seq + per * images))
        for i in range(images):  # vision_start, the image's tokens, vision_end
            start = 1 + i * (per + 2)
            ids[:, start] = cfg.vision_start_token_id
            ids[:, start + 1:start + 1 + per] = cfg.image_token_id
            ids[:, start + 1 + per] = cfg.vision_end_token_id
        types = (ids == cfg.image_token_id).to(torch.int32)  # mm_token_type_ids: 1 for image tokens (M-RoPE)
        return ids, {"pixel_values": pixels, "image_grid_thw": grid, "mm_token_type_ids": types}
    if kind == "mllama":  # each image as 2 × 2 tiles of image_size² px (aspect ratio id 6 of the 4-tile set)
        v = cfg.vision_config
        tiles = v.max_num_tiles
        ids = torch.randint(100, 1000, (batch, seq + images))
        ids[:, 1:1 + images] = cfg.image_token_index
        pixels = torch.zeros(batch, images, tiles, 3, v.image_size, v.image_size, dtype=dtype)
        ratio = torch.full((batch, images), 6, dtype=torch.long)
        ratio_mask = torch.ones(batch, images, tiles, dtype=torch.long)
        cross = torch.ones(batch, seq + images, images, tiles, dtype=torch.long)
        return ids, {"pixel_values": pixels, "aspect_ratio_ids": ratio, "aspect_ratio_mask": ratio_mask,
                     "cross_attention_mask": cross}
    raise NotImplementedError(f"image inputs for {kind!r} are not simulated")
