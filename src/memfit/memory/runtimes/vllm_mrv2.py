"""What Model Runner V2 keeps allocated beside the weights from ``load_model`` on, and which releases count it.

MRV2 (``vllm/v1/worker/gpu/model_runner.py``) builds its sampler in ``load_model`` after the weights are measured, on
the last pipeline stage only (``if self.is_last_pp_rank``), and three of its per-request tensors are as wide as the
vocabulary (read in the vLLM 0.26.0, 0.27.0 and 0.27.1 wheels):

- ``PenaltiesState.output_bin_counts``: ``max_num_reqs × vocab`` int32 (``sample/penalties.py``: "This tensor is
  rarely used but can be very large, taking up GBs of GPU memory");
- ``PenaltiesState.prompt_bin_mask``: ``max_num_reqs × cdiv(vocab, 32)`` int32;
- ``StructuredOutputsWorker.grammar_bitmask``: ``max_num_logits × cdiv(vocab, 32)`` int32, ``max_num_logits =
  max_num_reqs × decode_query_len`` (1 without speculative decoding; ``structured_outputs.py``).

Qwen's 151,936 tokens at 1,024 sequences: 0.60 GiB. vLLM up to 0.26 takes the weights, the torch peak over the
allocation before the profile run and the non-torch growth (``memory_profiling`` in ``vllm/utils/mem_utils.py``), so
torch memory allocated between the weights and the profile run is not counted; 0.27.0 takes ``total_consumed``, the
fall in free memory since the worker's snapshot, which counts it (``mrv2_states_counted`` in the 0.27 profile row).
"""

from __future__ import annotations

__all__ = ["sampler_state_bytes"]


def sampler_state_bytes(vocab: int, max_num_seqs: int, decode_query_len: int = 1) -> int:
    """The bytes of MRV2's vocabulary-wide sampler states on the last pipeline stage (see the module's docstring)."""
    words = -(-vocab // 32)
    return max_num_seqs * (vocab + words) * 4 + max_num_seqs * decode_query_len * words * 4
