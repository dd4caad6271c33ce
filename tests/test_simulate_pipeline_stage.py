"""The pipeline simulator's stages as torch builds them (tools/simulate_pipeline.py, simulator version 3, l16pp).

A static ``PipelineStage`` takes each received activation's ``requires_grad`` from its example ``input_args``
(torch 2.13 ``torch/distributed/pipelining/_utils.py`` ``_TensorMeta.from_tensor``; ``stage.py``
``_retrieve_recv_activations``: ``effective_requires_grad = tensor_meta.requires_grad and has_backward``). Versions 1
and 2 of the simulator built a later stage's example input without ``requires_grad``, so its received activation
was not a differentiable leaf: the stage never backpropagated into its input (the first layer's input norm saved
nothing for it, the input's and the residual's gradients were never made, no gradient was sent back), which no
training pipeline does. Found on the interleaved development rank (tests/data/parallel/pipeline-dev.jsonl,
llama-3.2-3b-l8 pp2 x dp4 rank 0: its trace freed stage 2's first fp32 norm input at once)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from _tools import load_tool

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def _tool(name: str) -> ModuleType:
    return load_tool(name)


def _received(example: object, torch: ModuleType) -> object:
    """The activation a static stage 1 of 2 hands its module for micro-batch 0, its example input ``example``."""
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining._utils import InferenceMode

    out = torch.empty(1, 8, 16, dtype=torch.bfloat16)
    stage = PipelineStage(torch.nn.Linear(16, 16), 1, 2, torch.device("cpu"), input_args=(example,), output_args=(out,))
    stage.has_backward = True  # what a training schedule sets
    stage._inference_mode = InferenceMode.STATIC
    stage._prepare_forward_infra(1, None, None, has_backward=True)
    return stage._retrieve_recv_activations(0)[0]


def test_later_stage_receives_a_differentiable_leaf() -> None:
    torch = pytest.importorskip("torch")
    import torch.distributed as dist

    sp = _tool("simulate_pipeline")
    sp._start(2, 1)
    try:
        inp, out = sp.stage_examples(1, 2, (1, 8, 16, 32), torch.bfloat16, torch.bfloat16)
        assert tuple(inp.shape) == (1, 8, 16) and tuple(out.shape) == (1, 8, 32)  # the last stage's logits
        act = _received(inp, torch)
        assert act.requires_grad and act.is_leaf and tuple(act.shape) == (1, 8, 16)
        # the first stage's input is the token ids, no gradient; a middle stage's output is the hidden state
        first, middle = sp.stage_examples(0, 3, (1, 8, 16, 32), torch.bfloat16, torch.bfloat16)
        assert first.dtype == torch.long and not first.requires_grad and tuple(middle.shape) == (1, 8, 16)
        # the mechanism: an example without requires_grad (versions 1 and 2) gives an activation that needs none
        assert not _received(torch.empty(1, 8, 16, dtype=torch.bfloat16), torch).requires_grad
    finally:
        dist.destroy_process_group()
