"""Gemma 3n's AltUp stream in the training replay (``training/layer_stream.py``, ``training/pool.py``): the decoder
layers take and return AltUp's copies of the residual stream as one stacked tensor (transformers 5.25
``Gemma3nTextModel.forward`` stacks ``altup_num_inputs`` copies with ``torch.stack``; each ``Gemma3nTextDecoderLayer``
returns ``altup.correct``'s ``[n, batch, seq, hidden]`` output), which a checkpointed layer's first forward leaves
for the next layer and checkpointing keeps as the layer's input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_ops import StepContext, kv_store_layers
from memfit.memory.training.layer_stream import layer_forward
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec

SIMULATED = Path(__file__).parent / "data" / "simulated"


def _spec(case: str) -> ModelSpec:
    for line in (SIMULATED / "families-new.jsonl").read_text().splitlines():
        r: dict[str, Any] = json.loads(line)
        if r.get("case") == case:
            return spec_from_config(r["config"], r["model"])
    raise AssertionError(case)


def _output_bytes(spec: ModelSpec, tokens: int) -> int:
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
    acts = model_activations(spec, p, 1, tokens)
    tr = Requested()
    c = StepContext(tr, spec, p, 1, tokens, kv_stores=kv_store_layers(spec), layer=0)
    x = tr.alloc(tokens * spec.hidden_size * 2)
    run = layer_forward(c, spec.layers[0], acts.layers[0], x, keep=False)
    return tr.live[run.output]


def test_a_gemma3n_layer_returns_altups_copies_as_one_tensor() -> None:
    """gemma-3n-e4b (4 AltUp copies, hidden 2,048) at 1 × 3,072 tokens, bf16: 4 × 3,072 × 2,048 × 2 B = 48 MiB, as
    the simulator's trace of the checkpointed case keeps each layer's input; a layer without AltUp (LLaVA-1.5's
    Llama, hidden 4,096) returns one stream, 3,072 × 4,096 × 2 B = 24 MiB."""
    assert _output_bytes(_spec("gemma-3n-e4b-it-text-l10/train-bf16-adamw-fused-ckpt-b1-s3072"), 3072) == 48 << 20
    assert _output_bytes(_spec("llava-1.5-7b-hf-l2/train-bf16-adamw-fused-ckpt-b1-s2048"), 3072) == 24 << 20
