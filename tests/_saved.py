"""What autograd keeps for backward in a real forward: the oracle the activation tests compare memfit with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def fused_dropout() -> Iterator[None]:
    """``F.dropout`` as CUDA runs it in training: the fused ``native_dropout`` (output + bool mask), which the CPU
    would not pick on its own."""
    import torch

    def fused(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Any:
        return torch.ops.aten.native_dropout(x, p, True)[0] if training and 0 < p < 1 else x

    orig = torch.nn.functional.dropout
    torch.nn.functional.dropout = fused
    try:
        yield
    finally:
        torch.nn.functional.dropout = orig


def saved_bytes(model: Any, ids: Any, autocast: bool = False) -> int:
    """Bytes autograd saves in ``model(input_ids=ids, labels=ids)``: unique storages, the parameters' excluded;
    under ``autocast`` (CPU, bf16) when asked."""
    import torch

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: Any) -> Any:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            saved[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        model(input_ids=ids, labels=ids)
    return sum(saved.values())
