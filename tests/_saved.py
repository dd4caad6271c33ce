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


def layer_saved_bytes(cfg: dict[str, Any], dtype: str, attn: str, seq: int, *, autocast: bool = False,
                      lora: tuple[str, ...] | None = None, lora_dropout: float = 0.0, fused: bool = False) -> int:
    """Bytes autograd saves for one decoder layer of a tiny model built from ``cfg`` (2 layers − 1 layer):
    ``dtype`` its weights, ``lora`` PEFT adapters (r 4) on those targets, ``fused`` dropout as CUDA's kernel."""
    import pytest

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    def run(layers: int) -> int:
        c = dict(cfg, num_hidden_layers=layers)
        conf = transformers.AutoConfig.for_model(c.pop("model_type"), **c)
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(conf, dtype=getattr(torch, dtype),
                                                              attn_implementation=attn)
        model.train()
        if lora:
            peft = pytest.importorskip("peft")
            model = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, lora_dropout=lora_dropout,
                                                               target_modules=list(lora)))
        ids = torch.randint(3, 200, (1, seq))
        if fused:
            with fused_dropout():
                return saved_bytes(model, ids, autocast=autocast)
        return saved_bytes(model, ids, autocast=autocast)

    return run(2) - run(1)
