"""RWKV (v4) blocks under transformers' PyTorch path: what a prompt's forward keeps alive, and the recurrent state.

transformers 5.25 ``models/rwkv/modeling_rwkv.py`` runs the WKV recurrence through a CUDA kernel only when the Hub
``kernels`` package and ninja load it (``load_wkv_cuda_kernel``); otherwise, and for a single token,
``rwkv_linear_attention`` calls ``rwkv_linear_attention_cpu``: a Python loop over time whose tensors are per step
``(b, hidden)`` vectors (the key's fp32 slice, the fp32 num / den / max states and their exponentials), nothing of
``b × s × hidden`` but its output. memfit prices that path (the one a plain install runs). With ``T`` one
``b × s × hidden`` tensor of the model dtype and ``I`` one ``b × s × intermediate`` tensor:

* ``RwkvSelfAttention`` (time mixing): ``extract_key_value`` pads the normed input one step back (``time_shift``,
  a ``ZeroPad2d``: a new tensor), mixes key, value and receptance from it (each mix's ``x·μ``, ``shift·(1 − μ)``
  and sum; the mix freed once its linear's output is bound to the same name), ``sigmoid(receptance(·))``; the CPU
  loop's ``output = zeros_like(key)``; then ``self.output(receptance * rwkv)``. At that projection the block holds
  its normed input, receptance, key, value, the loop's output, the product and the projection's output (7 T) and
  the loop's last num / den / max states (3 fp32 vectors of ``b × hidden``).
* ``RwkvBlock.forward`` keeps the time mixing's output in its local ``attention`` through the channel mixing.
  ``RwkvFeedForward``: the normed input's shift, the key and receptance mixes, then
  ``torch.square(torch.relu(self.key(key)))``: key's projection and its relu alive together (2 I), then relu's and
  its square. Its peak, at the relu: the held time-mixing output, the shift and the two mixes (4 T) + 2 I beside the
  residual stream (embeddings, the layer's input, the residual sum, the normed input).
* ``RwkvModel.forward`` makes the state with ``use_cache`` (``generate``): five ``(b, hidden, layers)`` tensors, the
  two shift states in the model dtype and the WKV num / den / max in fp32, updated in place.

Checked against the simulator's allocation trace of ``rwkv-default-l2/gen-eager-b2-s900-new8`` (sweep-dev.jsonl):
9 T (+ the state and the loop's 3 vectors) at the output projection, 16 T at the channel mixing's relu (I = 4 h).
"""

from __future__ import annotations

from ..spec import SSMSpec

__all__ = [
    "RWKV_LOOP_SAVED",
    "RWKV_SHIFT_STATES",
    "RWKV_TIME_MIX_BACKWARD",
    "RWKV_TIME_MIX_SAVED",
    "RWKV_WKV_STATES",
    "channel_mix_bytes",
    "loop_saved_bytes",
    "rwkv_state_bytes",
    "time_mix_bytes",
    "time_mix_training",
]

FP32 = 4
RWKV_SHIFT_STATES = 2  # state[0], state[1]: the channel and time mixing's previous token, model dtype
RWKV_WKV_STATES = 3  # state[2..4]: num, den, max of the WKV recurrence, fp32
# rwkv_linear_attention_cpu's loop, one time step, in training: the fp32 ``(b, hidden)`` tensors autograd keeps (torch
# derivatives.yaml: ``maximum`` keeps both inputs, ``exp`` its result, ``mul`` and ``div`` both operands): the key's
# ``.float()`` copy and ``key + time_first`` (the first ``maximum``'s), ``e1`` and ``e2`` (exp), ``numerator`` and
# ``denominator`` (div), ``max_state + time_decay`` and ``max_for_state`` (the second ``maximum``'s; the next step's
# ``max_state``), the state update's ``e1`` and ``e2`` (exp), ``num_state`` and ``den_state`` (the next step's
# ``e1 * num_state`` / ``e1 * den_state``): 6 adds, 4 exps, the copy, a maximum. (The first step keeps the zero
# initial states in place of what the last step leaves unread.)
RWKV_LOOP_SAVED = 12


def rwkv_state_bytes(ssm: SSMSpec, dtype_bytes: int) -> int:
    """One layer's share of ``RwkvModel``'s state for one sequence: two shift vectors in the model dtype and the
    WKV num / den / max in fp32, each ``hidden`` wide (``ssm.d_inner``)."""
    return ssm.d_inner * (RWKV_SHIFT_STATES * dtype_bytes + RWKV_WKV_STATES * FP32)


def time_mix_bytes(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the time mixing's output projection beyond the embeddings, the layer's input and its normed
    input: receptance, key, value, the loop's output, ``receptance * rwkv`` and the projection's output (6 T) and
    the loop's last fp32 num / den / max (``b × hidden`` each)."""
    one = b * s * ssm.d_inner * dt
    step = RWKV_WKV_STATES * b * ssm.d_inner * FP32
    return 6 * one + step, (
        f"RWKV time mixing (rwkv_linear_attention_cpu): 6 × {one:,} B (receptance, key, value, "
        f"the loop's output, r·wkv, output projection) + {step:,} B fp32 num/den/max"
    )


def channel_mix_bytes(hidden: int, intermediate: int, tokens: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the channel mixing's relu beyond the residual stream: the block's held time-mixing output,
    the shift, the key and receptance mixes (4 T) and key's projection beside its relu (2 I)."""
    return tokens * (4 * hidden + 2 * intermediate) * dt, (
        f"RWKV channel mixing: {tokens:,} tokens × (4 × {hidden} + 2 × {intermediate}) × {dt} B (held time-mixing "
        f"output, shift, key/receptance mixes; key's projection and its relu)"
    )


def loop_saved_bytes(ssm: SSMSpec, b: int, s: int) -> int:
    """Bytes the WKV loop leaves for one layer's backward in training: :data:`RWKV_LOOP_SAVED` fp32 ``(b, hidden)``
    tensors per time step, each its own (small-pool) block."""
    return RWKV_LOOP_SAVED * s * b * ssm.d_inner * FP32


RWKV_TIME_MIX_SAVED = 7  # the shift, the key / value / receptance mixes, value, sigmoid(receptance), the loop's output
RWKV_TIME_MIX_BACKWARD = 5  # g(r·wkv)'s two gradients, receptance's pre-sigmoid, key's and value's, CopySlices' clone


def time_mix_training(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, int]:
    """(saved, backward transient) bytes of ``RwkvSelfAttention`` in a training step beyond its normed input and the
    output projection's input (``receptance * rwkv``), which the caller counts as Linear inputs. Saved: the shift
    (``shifted * (1 - μ)``'s), the three mixes (key's, value's and receptance's Linear inputs), ``value`` (the loop's
    ``e2 * current_value`` keeps its slices), ``sigmoid`` 's output and the loop's ``output`` (``receptance * rwkv``
    keeps both): :data:`RWKV_TIME_MIX_SAVED` ``b × s × hidden`` tensors, and the loop's per-step vectors
    (:func:`loop_saved_bytes`)."""
    one = b * s * ssm.d_inner * dt
    return RWKV_TIME_MIX_SAVED * one + loop_saved_bytes(ssm, b, s), RWKV_TIME_MIX_BACKWARD * one
