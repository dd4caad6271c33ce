"""NewGELUActivation's op chain without autograd recording (transformers 5.25 activations.py
``0.5 * input * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (input + 0.044715 * torch.pow(input, 3.0))))``):
every op makes a new tensor and each is freed with its last reference. Shared by the inference pool (CodeGen's block)
and the training replay (a first layer whose input needs no gradient)."""

from __future__ import annotations

from .allocator_trace import Trace

__all__ = ["new_gelu_no_grad"]


def new_gelu_no_grad(tr: Trace, fc: int, nbytes: int) -> int:
    """The activation of fc_in's output ``fc`` (``nbytes`` per tensor): ``0.5·x`` kept, ``x³`` until ``·0.044715``,
    then ``x +``, ``·√(2/π)``, ``tanh``, ``1 +`` each made with the one before freed, and the product; ``fc`` goes with
    the rest. Returns the product's key."""
    half, cube = tr.alloc(nbytes), tr.alloc(nbytes)
    alive = tr.alloc(nbytes)  # · 0.044715
    tr.free(cube)
    for _ in range(4):
        made = tr.alloc(nbytes)
        tr.free(alive)
        alive = made
    act = tr.alloc(nbytes)
    tr.free(half, alive, fc)
    return act
