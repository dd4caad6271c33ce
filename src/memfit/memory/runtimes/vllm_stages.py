"""vLLM's pipeline stages: which layers and which end tensors each GPU of a ``--pipeline-parallel-size`` run holds.

vLLM splits the decoder layers with ``get_pp_indices`` (``vllm/distributed/utils.py``): ``L // pp`` layers per
stage, the remainder one each to the stages before the last, from the second-to-last backwards ("the last partition
is excluded because it often contains an additional norm layer"). The first stage also holds the token embedding,
the last the final norm and ``lm_head`` (and, for a model that ties them, its own copy of the embedding: Llama's
``embed_tokens`` is built "if get_pp_group().is_first_rank or (config.tie_word_embeddings and
get_pp_group().is_last_rank)"). So with an even split the first and last stages are the largest by one
embedding each, not one ``1 / pp`` of the checkpoint: Llama-3.1-8B pp 4 holds 4.26 GiB on its first GPU (the
embedding's 0.98 GiB + 8 layers' 3.25 GiB + the rotary cache), where an even split gives 3.74.
"""

from __future__ import annotations

from ...formats import KEPT_BYTES, get_format, quantized_tensor_bytes, quantizes, tensor_role
from ...inventory import Tensor, inventory
from ...spec import ModelSpec
from ..weights import is_as_stored

__all__ = ["pp_partition", "stage_range", "stage_weight_bytes"]


def pp_partition(num_layers: int, pp: int) -> tuple[int, ...]:
    """Decoder layers per pipeline stage, as ``get_pp_indices`` splits them without ``VLLM_PP_LAYER_PARTITION``."""
    base, rest = divmod(num_layers, pp)
    parts = [base] * pp
    for i in range(2, rest + 2):
        parts[-i] += 1
    return tuple(parts)


def stage_range(num_layers: int, pp: int, rank: int) -> range:
    """The decoder layers pipeline stage ``rank`` holds."""
    parts = pp_partition(num_layers, pp)
    start = sum(parts[:rank])
    return range(start, start + parts[rank])


def _stage_of(t: Tensor, spec: ModelSpec, pp: int) -> int:
    """The stage a tensor lives on: its layer's stage; the embeddings and the vision tower on the first, the final
    norm, ``lm_head`` and anything else after the blocks on the last."""
    if t.layer is not None:
        parts = pp_partition(len(spec.layers), pp)
        acc = 0
        for rank, n in enumerate(parts):
            acc += n
            if t.layer < acc:
                return rank
        return pp - 1
    return 0 if t.group in ("embeddings", "vision") else pp - 1


def _tensor_bytes(spec: ModelSpec, fmt_name: str, t: Tensor) -> int:
    fmt = get_format(fmt_name)
    if fmt.is_gguf:
        return t.numel  # proportions only (GGUF has no pipeline split in vLLM's loader)
    if quantizes(fmt, tensor_role(t), spec.is_moe):
        return quantized_tensor_bytes(fmt, t.shape, tensor_role(t))
    return t.numel * KEPT_BYTES


def stage_weight_bytes(spec: ModelSpec, fmt_name: str, total: int, pp: int) -> tuple[int, ...]:
    """The checkpoint's ``total`` weight bytes split over ``pp`` stages by the tensors each holds (the tied
    embedding counted again on the last stage). Without tensor shapes (a bare count, a checkpoint read as
    stored) the split is even."""
    tensors = inventory(spec)
    if pp == 1:
        return (total,)
    if not tensors or is_as_stored(spec, fmt_name):
        return tuple(-(-total // pp) for _ in range(pp))
    share = [0] * pp
    for t in tensors:
        share[_stage_of(t, spec, pp)] += _tensor_bytes(spec, fmt_name, t)
    whole = sum(share)
    out = [total * s // whole for s in share]
    if spec.tie_word_embeddings:
        embed = sum(_tensor_bytes(spec, fmt_name, t) for t in tensors if t.kind == "token_embd")
        out[-1] += total * embed // whole
    return tuple(out)
