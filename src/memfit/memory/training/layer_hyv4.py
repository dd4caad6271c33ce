"""HY-V4's hyper-connections in a training step as the caching allocator sees them (called from
``layer_stream.layer_forward`` around each block and from ``pool._forward_backward``); what they keep is read off
transformers 5.25 models/hy_v4/modeling_hy_v4.py in ``memory/hyv4_training.py``.

* Before each block (``HYV4HyperConnection.forward``): the streams flattened and made fp32 (kept by the unweighted
  norm's ``square``), the square (a transient), ``pre × streams`` in fp32 (a transient; it saves the streams), its
  sum over the streams (fp32) cast to the residual's dtype: the block's input, dropped once the block's norm made its
  own fp32 copy.
* After each block (``HYV4DecoderLayer.forward``): the block's output made fp32 (kept by the product), ``post ×
  output`` (fp32), the old streams made fp32, their sum, cast to the residual's dtype: the new streams; the old
  streams, if not the layer's input (which the step keeps), are kept by the next connection's product.
* The model (``HYV4Model.forward``): the causal mask made before the streams (kept by every checkpoint's
  ``partial`` until layer 0's backward, else until the forward returns), the embedding's output expanded to
  ``hc_mult`` streams by ``.contiguous()``, and each ``"full"`` indexer layer's int32 top-k, which the next layer's
  checkpoint keeps until that layer's backward (without checkpointing: until the next full layer returns).

The connections' backward chains are not replayed (their fp32 gradients reuse the forward's blocks in the simulator's
trace of the development case); their saved tensors go at the layer's backward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..hyv4_training import hyv4_streams, hyv4_topk
from .layer_ops import LayerRun, StepContext

__all__ = ["HyTopK", "hyv4_post", "hyv4_pre"]

FP32 = 4


def hyv4_pre(c: StepContext, run: LayerRun) -> int:
    """The hyper-connection before a block, from the current streams; returns the block's input's key."""
    tr, t, h, r = c.tr, c.t, c.spec.hidden_size, c.r
    wide = t * hyv4_streams(c.spec) * h * FP32
    flat = tr.alloc(wide) if r != FP32 else 0  # .float() of fp32 streams is the same tensor
    tr.free(tr.alloc(wide))  # square
    tr.pack()  # pre × streams saves pre and the streams
    mixed = tr.alloc(wide)
    total = tr.alloc(t * h * FP32)
    tr.free(mixed)
    out = tr.alloc(t * h * r) if r != FP32 else total
    if out != total:
        tr.free(total)
    run.hold(tr, flat)
    return out


def hyv4_post(c: StepContext, run: LayerRun, stream: int, out: int, x: int) -> int:
    """The new streams from the old ``stream`` and the block's output ``out`` (``x``: the layer's input, which the
    step keeps); returns the new streams' key."""
    tr, t, h, r = c.tr, c.t, c.spec.hidden_size, c.r
    wide = t * hyv4_streams(c.spec) * h * FP32
    o32 = tr.alloc(t * h * FP32) if c.pb != FP32 else 0  # out.float()
    tr.pack()  # post × output saves post and the fp32 output
    product = tr.alloc(wide)
    old = tr.alloc(wide) if r != FP32 else 0  # residual.float()
    total = tr.alloc(wide)
    tr.free(product, old)
    new = tr.alloc(wide // FP32 * r) if r != FP32 else total
    if new != total:
        tr.free(total)
    tr.free(out)
    run.hold(tr, o32)
    if stream != x:  # the mid streams: saved by the next connection's pre × streams
        run.hold(tr, stream)
    return new


@dataclass
class HyTopK:
    """HY-V4's causal mask and int32 top-k tensors in the step (the module's docstring); inert for other families."""

    c: StepContext
    ckpt: bool
    sizes: list[int] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)  # the top-k the model's loop holds after each layer (0: none)
    mask: int = 0

    def __post_init__(self) -> None:
        c = self.c
        if hyv4_streams(c.spec):
            self.sizes = hyv4_topk(c.spec, c.batch, c.seq)
            self.mask = c.tr.alloc(c.batch * c.seq * c.seq * c.r)

    def layer_done(self, i: int) -> None:
        """Layer ``i``'s forward returned: a full indexer's top-k made (without checkpointing the loop's previous
        one goes)."""
        if not self.sizes:
            return
        prev = self.keys[-1] if self.keys else 0
        new = self.c.tr.alloc(self.sizes[i]) if self.sizes[i] else prev
        if not self.ckpt and new != prev:
            self.c.tr.free(prev)
        self.keys.append(new)

    def forward_done(self) -> None:
        """The model returned: the loop's last top-k goes (unless a checkpoint keeps it), and the mask without
        checkpointing."""
        if self.keys and (not self.ckpt or self.keys[-1] not in self.keys[:-1]):
            self.c.tr.free(self.keys[-1])
        if not self.ckpt:
            self.c.tr.free(self.mask)
            self.mask = 0

    def backward_done(self, i: int) -> None:
        """Layer ``i``'s backward ran: its checkpoint's top-k goes once no earlier checkpoint keeps it; layer 0's
        takes the mask."""
        if not self.sizes or not self.ckpt:
            return
        if i > 0 and self.keys[i - 1] not in self.keys[: i - 1]:
            self.c.tr.free(self.keys[i - 1])
        if i == 0:
            self.c.tr.free(self.mask)
