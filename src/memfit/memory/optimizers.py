"""Optimizer states and the temporaries of their ``step()``, exact per parameter tensor.

* ``torch.optim.AdamW``: ``exp_avg`` and ``exp_avg_sq`` are ``zeros_like(param)`` (the parameter's
  dtype: fp32 under mixed precision, bf16 for pure-bf16 training), made lazily at the first step.
  ``fused=True`` updates in one kernel with no temporaries; ``foreach=True`` computes
  ``torch._foreach_sqrt(exp_avg_sqs)`` for all parameters at once: one parameter-sized temporary.
* bitsandbytes ``AdamW8bit`` (``Optimizer2State``): two uint8 states + one fp32 absmax per 256
  elements each; tensors with fewer than ``min_8bit_size`` = 4096 elements keep two fp32 states.
  ``PagedAdamW8bit`` puts them in CUDA unified memory, which ``torch.cuda.memory_allocated`` does not count.
* transformers ``Adafactor``: a matrix keeps ``exp_avg_sq_row`` (shape[:-1]) and ``exp_avg_sq_col``
  (shape[:-2] + shape[-1:]); a vector keeps a full ``exp_avg_sq``; no first moment (``beta1=None``).
* Lion: one momentum state; SGD with momentum: one ``momentum_buffer``; plain SGD: none.

Sources: PyTorch ``torch/optim/adam.py`` (``_multi_tensor_adam``, ``_fused_adam``), bitsandbytes
``optim/optimizer.py`` (``Optimizer2State.init_state``), transformers ``optimization.py``
(``Adafactor.step``); reference/formulas.md §5.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["OPTIMIZERS", "OptimizerMemory", "optimizer_memory"]

OPTIMIZERS = ("adamw", "adamw-fused", "adamw-foreach", "adamw8bit", "paged-adamw8bit", "adafactor", "lion",
              "sgd", "sgd-momentum")
BNB_BLOCK = 256  # bitsandbytes 8-bit optimizer blocksize (absmax per 256 elements)
BNB_MIN_8BIT = 4096  # min_8bit_size: smaller tensors keep fp32 states


@dataclass(frozen=True)
class OptimizerMemory:
    """States (persistent after the first step) and the transient peak inside ``step()``."""

    name: str
    state_bytes: int
    step_temporary: int
    on_device: bool  # False for paged optimizers' unified memory (not in PyTorch's allocator)
    formula: str


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _bnb8(numel: int) -> int:
    if numel < BNB_MIN_8BIT:
        return 2 * 4 * numel
    return 2 * (numel + 4 * _ceil(numel, BNB_BLOCK))


def _adafactor(shape: tuple[int, ...], state_b: int) -> int:
    if len(shape) >= 2:
        rows = math.prod(shape[:-1])
        cols = math.prod(shape[:-2]) * shape[-1]
        return (rows + cols) * state_b
    return math.prod(shape) * state_b


def optimizer_memory(name: str, shapes: list[tuple[int, ...]], state_bytes: int) -> OptimizerMemory:
    """States of optimizer ``name`` for trainable tensors of ``shapes`` whose dtype has ``state_bytes``."""
    n = sum(math.prod(s) for s in shapes)
    largest = max((math.prod(s) for s in shapes), default=0)
    key = name.lower()
    if key in ("adamw", "adamw-fused", "adam", "adam-fused"):
        b = 2 * n * state_bytes
        return OptimizerMemory(key, b, 0, True, f"2 states (exp_avg, exp_avg_sq) × {n:,} × {state_bytes} B")
    if key in ("adamw-foreach", "adam-foreach"):
        b = 2 * n * state_bytes
        return OptimizerMemory(key, b, n * state_bytes, True,
                               f"2 states × {n:,} × {state_bytes} B; step: _foreach_sqrt temporary {n:,} × "
                               f"{state_bytes} B")
    if key in ("adamw8bit", "paged-adamw8bit", "adam8bit"):
        b = sum(_bnb8(math.prod(s)) for s in shapes)
        return OptimizerMemory(key, b, 0, not key.startswith("paged"),
                               f"2 × (1 B + 4 B per {BNB_BLOCK}) per element; tensors < {BNB_MIN_8BIT} "
                               f"elements 2 × 4 B ({n:,} elements)")
    if key == "adafactor":
        b = sum(_adafactor(s, state_bytes) for s in shapes)
        return OptimizerMemory(key, b, 2 * largest * 4, True, "factored second moment: (rows + cols) per matrix")
    if key == "lion":
        return OptimizerMemory(key, n * state_bytes, largest * state_bytes, True,
                               f"1 state × {n:,} × {state_bytes} B")
    if key == "sgd-momentum":
        return OptimizerMemory(key, n * state_bytes, 0, True, f"momentum_buffer {n:,} × {state_bytes} B")
    if key == "sgd":
        return OptimizerMemory(key, 0, 0, True, "plain SGD keeps no state")
    raise ConfigError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
