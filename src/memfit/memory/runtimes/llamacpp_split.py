"""llama.cpp's layer split over several GPUs (``-ngl``, ``--tensor-split``, ``-sm layer``).

``llama_model::load_tensors`` (src/llama-model.cpp, build b10605): the split proportions (``--tensor-split``,
or each device's free memory when none is given) are summed into cumulative points normalised to 1, in
f32; of the ``n_layer + 1`` layers (the repeating layers, then the output layer) the last ``-ngl`` go
to the GPUs, and offloaded layer ``il`` goes to the first device whose point is above
``(il − i_gpu_start) / act_gpu_layers`` (``std::upper_bound``). The input layer (token embeddings)
always stays on the CPU.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ...errors import ConfigError

__all__ = ["DeviceShare", "layer_devices", "parse_tensor_split"]

CPU = -1


def _f32(x: float) -> float:
    """Round to IEEE single precision, as llama.cpp's ``float`` arithmetic does."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def parse_tensor_split(values: Sequence[str] | None, gpus: int) -> list[float]:
    """``--tensor-split 3,1`` as proportions, one per GPU (equal shares when not given)."""
    if not values:
        return [1.0] * gpus
    try:
        out = [float(v) for v in values]
    except ValueError:
        raise ConfigError(f"--tensor-split {','.join(values)}: each part must be a number (e.g. 3,1)") from None
    if gpus > 1 and len(out) != gpus:
        raise ConfigError(f"--tensor-split {','.join(values)} has {len(out)} parts for --gpus {gpus}: give one per GPU")
    if any(v < 0 or v != v or v == float("inf") for v in out) or not any(out):
        raise ConfigError(f"--tensor-split {','.join(values)}: the parts must be finite, ≥ 0 and not all 0")
    return out


def layer_devices(n_layer: int, n_gpu_layers: int, split: Sequence[float]) -> list[int]:
    """The device of each of the ``n_layer + 1`` layers (the last is the output layer): a GPU index,
    or ``CPU`` (−1)."""
    points: list[float] = []
    total = 0.0
    for s in split:
        total = _f32(total + _f32(s))
        points.append(total)
    points = [_f32(p / total) for p in points]
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1) if split else 0
    out = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or il - i_gpu_start >= act:
            out.append(CPU)
            continue
        x = _f32(float(il - i_gpu_start) / act)
        out.append(min(bisect.bisect_right(points, x), len(points) - 1))
    return out


@dataclass(frozen=True)
class DeviceShare:
    """What one GPU holds under the split."""

    gpu: int
    layers: tuple[int, ...]  # repeating layers on this GPU
    output: bool  # the output layer is here
    weights_bytes: int
    kv_bytes: int

    def to_json(self) -> dict[str, object]:
        first_last = [self.layers[0], self.layers[-1]] if self.layers else []
        return {"gpu": self.gpu, "layers": first_last, "n_layers": len(self.layers), "output_layer": self.output,
                "weights_bytes": self.weights_bytes, "kv_bytes": self.kv_bytes}
