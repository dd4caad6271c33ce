"""A later micro-batch's weight gradients without FSDP (``memory/training/layer_grads.py``, ``pp_pool.py``): the
parameter's ``.grad`` is already there, so autograd's AccumulateGrad node adds each new gradient into it in place
(torch/csrc/autograd/functions/accumulate_grad.h, ``accumulateGrad``: ``variable_grad += new_grad`` when a gradient
is defined and grad mode is off) and the new tensor goes as soon as the node has run; the node runs as soon as the
gradient is made (accumulate_grad.cpp: its sequence number is UINT64_MAX, the highest, and torch/csrc/autograd/
engine.cpp's ReadyQueue runs the highest first). The simulator's trace of dev llama-3.1-8b-l4/pp2-tp4-r1-gpipe-sacop
(pipeline-tp-dev.jsonl) frees each 56 MiB fp32 gradient of the second micro-batch at the ``add_`` right after its
``_to_copy``; memfit kept them to the end of the layer's backward."""

from __future__ import annotations

from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.training.layer_grads import layer_backward
from memfit.memory.training.layer_mlp import dense_mlp
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.loader import load_model

MIB = 1 << 20
AMP_FULL = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)


def _mlp_backward(added: bool) -> tuple[Trace, StepContext]:
    spec = load_model("llama-3.2-1b")
    tr = Trace()
    c = StepContext(tr, spec, AMP_FULL, 1, 1024)
    c.added = added
    run = LayerRun()
    out = dense_mlp(c, run, 8192, True, False, tr.alloc(1024 * 2048 * 2), 2)
    grad = tr.alloc(1024 * 2048 * 4)
    tr.free(out)
    tr.pool.peak_allocated = tr.pool.allocated
    w = 2048 * 8192
    layer_backward(c, run, grad, [("ffn_gate", w, True), ("ffn_up", w, True), ("ffn_down", w, True)])
    return tr, c


def test_later_micro_batch_frees_each_weight_gradient_as_made() -> None:
    """Llama-3.2-1B's MLP (h 2,048, intermediate 8,192) on 1,024 tokens under autocast on fp32 weights, as in
    test_mlp_backward_order: the backward starts at 172 MiB. down: the product freed (156), the gradient's bf16
    cast, the weight's and the input's gradients (+4 +32 +16 = 208), the cast and the copy go (172), the fp32
    weight gradient (236: the peak), the bf16 one goes (204), and now the fp32 one too (140): every later step is
    64 MiB lower than the first micro-batch's for each weight gradient already made, up's and gate's fp32
    gradients (64 MiB each) come and go the same way, and the backward ends with the layer input's fp32 gradient
    (8) and x (4): 12 MiB, no gradient kept."""
    tr, c = _mlp_backward(added=True)
    assert tr.pool.peak_allocated == 236 * MIB
    assert tr.pool.allocated == 12 * MIB
    assert c.grads == []


def test_first_micro_batch_keeps_its_gradients() -> None:
    """The first micro-batch's (``added`` False) are the ``.grad`` tensors: three 64 MiB fp32 gradients kept, 204
    MiB at the end (192 + 8 + 4), as before."""
    tr, c = _mlp_backward(added=False)
    assert tr.pool.allocated == 204 * MIB
    assert len(c.grads) == 3
