"""Beam's inference figures beyond the generic reading (issue 12, l12beam; transformers 5.25
``models/beam/modeling_beam.py``), found on the development case beam-default-l2/gen-b3-s4000-new8 (sweep-dev.jsonl,
moved there from blind round 5 before its trace was read) against the simulator's allocation trace of it.

* **An fp32 SwiGLU that holds its projections.** ``BeamMLP.forward`` binds ``gate = self.gate_proj(x)`` and ``up =
  self.up_proj(x)`` to locals, then ``activated = (self.act_fn(gate.float()) * up.float()).to(gate.dtype)``: at the
  product the two model-dtype projections, SiLU's fp32 output, ``up``'s fp32 copy and the fp32 product are alive
  (``gate``'s fp32 copy went when SiLU returned): ``2·dt + 12`` bytes per intermediate element in half precision,
  where Llama's one-expression MLP holds three model-dtype tensors (``3·dt``). In fp32 ``.float()`` returns the
  tensor itself: gate, up, SiLU's output and the product, 16 bytes. ``BeamExperts._apply_gate`` (the gate of the
  grouped experts path, ``integrations/moe.py`` ``grouped_mm_experts_forward``) evaluates the same fp32 product on the
  halves of ``gate_up`` (the fused projection's output, alive until ``_apply_gate`` returns).
* **fp32 routing weights.** ``BeamTopKRouter.forward`` scores ``F.linear(hidden_states.float(), weight.float())``
  and gathers the top-k weights from the fp32 sigmoid: the experts' weighted rows are fp32
  (``transformers_families.FP32_ROUTING``); its group-limited top-k is DeepSeek-V3's rule
  (``transformers_pool_blocks.GROUP_ROUTED``).
* **Norms, RoPE and the attention's output gate.** ``BeamRMSNorm.forward`` returns ``(self.weight *
  hidden_states).to(input_dtype)`` (``FP32_WEIGHT_NORM``); ``BeamRotaryEmbedding.forward`` returns fp32 cos/sin and
  ``apply_rotary_pos_emb`` casts the fp32 rotations back (``FP32_ROPE``); ``BeamAttention`` norms q and k per head,
  and gates its output, ``attn_output * sigmoid(gate_proj(x) + gate_bias)``, before ``o_proj``
  (``transformers_pool_beam.py`` replays the layer).
* **Logits soft-capped in fp32.** ``BeamForCausalLM.forward``: ``logits = logits.float() / cap``, ``torch.tanh``,
  ``* cap`` ("Softcap in float32"): at the division the projection's model-dtype logits, their fp32 copy and the
  fp32 quotient are alive (``dt + 8`` bytes per logit; in fp32 ``.float()`` is the tensor itself), then two fp32
  tensors at each later step (found on the development case beam-default-l2/fwd-b2-s1536, a full forward).
"""

from __future__ import annotations

from ..allocator_trace import Trace
from ..ssm_activations import FP32

__all__ = [
    "FP32_SOFTCAP",
    "FP32_SWIGLU",
    "fp32_gate",
    "fp32_gate_row_bytes",
    "fp32_softcap",
    "fp32_softcap_bytes",
    "fp32_swiglu_bytes",
]

# families whose gated MLP (and experts' gate) holds gate and up and multiplies act(gate.float()) by up.float()
FP32_SWIGLU = ("beam",)
# families whose causal-LM head soft-caps the logits in fp32 (``logits.float() / cap``, tanh, ``* cap``)
FP32_SOFTCAP = ("beam",)


def fp32_swiglu_bytes(dt: int) -> int:
    """Bytes per intermediate element alive at the product of ``BeamMLP.forward`` (model dtype ``dt`` bytes): gate
    and up (``dt`` each) beside SiLU's fp32 output, up's fp32 copy and the fp32 product; in fp32 the copies are the
    tensors themselves (gate, up, SiLU's output, the product)."""
    return 2 * dt + 3 * FP32 if dt < FP32 else 4 * FP32


def fp32_gate_row_bytes(hidden: int, inner: int, dt: int) -> int:
    """Bytes per routed row at ``BeamExperts._apply_gate``'s product on the grouped experts path: the gathered row
    (``hidden``), ``gate_up`` (``2·inner``, model dtype) and the fp32 SiLU output, up's copy and product (``inner``
    each; in fp32 the up copy is ``up`` itself, a view of ``gate_up``)."""
    return hidden * dt + 2 * inner * dt + (3 if dt < FP32 else 2) * inner * FP32


def fp32_gate(tr: Trace, n: int, dt: int) -> int:
    """``(act_fn(gate.float()) * up.float()).to(gate.dtype)`` on ``n`` intermediate elements whose gate and up the
    caller holds: gate's fp32 copy and SiLU's output (the copy freed), up's copy, the product (both freed), the
    cast back (the product freed). In fp32 ``.float()`` and ``.to`` return the tensor itself. Returns the result."""
    if dt >= FP32:
        act = tr.alloc(n * dt)
        prod = tr.alloc(n * dt)
        tr.free(act)
        return prod
    copy = tr.alloc(n * FP32)
    act = tr.alloc(n * FP32)
    tr.free(copy)
    up = tr.alloc(n * FP32)
    prod = tr.alloc(n * FP32)
    tr.free(act, up)
    low = tr.alloc(n * dt)
    tr.free(prod)
    return low


def fp32_softcap_bytes(dt: int) -> int:
    """Bytes per logit at ``BeamForCausalLM.forward``'s division: the model-dtype logits (``dt``), their fp32 copy
    (none in fp32) and the fp32 quotient."""
    return dt + (FP32 if dt < FP32 else 0) + FP32


def fp32_softcap(tr: Trace, logits: int, n: int, dt: int) -> int:
    """The soft-cap on ``n`` logits (the projection's, key ``logits``): the fp32 copy, the quotient (the copy and the
    projection's logits freed), tanh (the quotient freed), the product (tanh freed). Returns the capped logits."""
    copy = tr.alloc(n * FP32) if dt < FP32 else 0
    quotient = tr.alloc(n * FP32)
    tr.free(copy, logits)
    tanh = tr.alloc(n * FP32)
    tr.free(quotient)
    capped = tr.alloc(n * FP32)
    tr.free(tanh)
    return capped
