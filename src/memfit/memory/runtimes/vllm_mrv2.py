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

Beside them the same ``Sampler.__init__`` builds fixed-width per-request tables on the device (``StagedWriteTensor``,
GPU by default; read in the 0.27.1 wheel): ``BadWordsState`` (``sample/bad_words.py``: ``MAX_BAD_WORDS_TOTAL_TOKENS``
1,024 token ids and ``MAX_NUM_BAD_WORDS + 1`` = 129 offsets), ``LogitBiasState`` (``sample/logit_bias.py``: 1,024
allowed token ids, 1,024 bias token ids, 1,024 fp32 biases, 128 stop token ids) and ``LogprobTokenIdsState``
(``sample/logprob.py``: ``MAX_LOGPROB_TOKEN_IDS`` 128, ``vllm/sampling_params.py``), 4 B each: 4,481 words a request.
"""

from __future__ import annotations

__all__ = ["sampler_state_bytes", "sampler_table_bytes"]

# the per-request table widths of the sampler's fixed-width states (module docstring), 4-byte words
TABLE_WORDS_PER_REQUEST = 1024 + 129 + 3 * 1024 + 128 + 128


def sampler_state_bytes(vocab: int, max_num_seqs: int, decode_query_len: int = 1) -> int:
    """The bytes of MRV2's sampler states on the last pipeline stage: the vocabulary-wide ones and the fixed-width
    per-request tables (see the module's docstring)."""
    words = -(-vocab // 32)
    wide = max_num_seqs * (vocab + words) * 4 + max_num_seqs * decode_query_len * words * 4
    return wide + sampler_table_bytes(max_num_seqs)


def sampler_table_bytes(max_num_seqs: int) -> int:
    """The bytes of MRV2's fixed-width per-request sampler tables on the last pipeline stage (module docstring)."""
    return max_num_seqs * TABLE_WORDS_PER_REQUEST * 4
