"""The gradients the training pool (memory/training/pool.py) holds after backward for a tied output projection
that is not the only tensor of its kind: RobertaLMHead (dense, gelu, LayerNorm, a decoder tied to the word
embeddings with a bias of its own) beside BERT's token-type table, and XLNetLMHeadModel's ``lm_loss`` tied to
``word_embedding`` beside ``mask_emb`` (transformers 5.25 models/roberta/modeling_roberta.py,
models/xlnet/modeling_xlnet.py). The development cases of train-sweep-dev.jsonl (moved there from blind round 6,
where memfit raised ``ValueError: N is not in list`` in ``_embedding_backward``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.training import model_states, pool
from memfit.memory.training.layer_stream import StepContext
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DATA = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"


def _grads_after_backward(case: str, monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """The sizes of the gradients above 1 MiB the pool holds once the embeddings' backward has run (first step)."""
    rec = next(json.loads(line) for line in DATA.read_text().splitlines() if f'"case": "{case}"' in line)
    spec = spec_from_config(rec["config"], rec["model"])
    wl = workload_for_case(rec["kind"], dict(rec["params"])).validate()
    states = model_states(spec, wl)
    acts = model_activations(spec, replace(states.precision, kv_cache=True), wl.batch, wl.context)
    seen: list[Counter[int]] = []
    asked: dict[int, int] = {}  # each key's bytes as asked (the allocator's blocks are rounded)
    original: Callable[[StepContext, list[pool.Param]], None] = pool._embedding_backward
    alloc = Trace.alloc

    def recorded(c: StepContext, trainable: list[pool.Param]) -> None:
        original(c, trainable)
        if not seen:
            seen.append(Counter(asked[k] for k in c.grads if k))

    def asking(tr: Trace, nbytes: int) -> int:
        key = alloc(tr, nbytes)
        asked[key] = nbytes
        return key

    monkeypatch.setattr(pool, "_embedding_backward", recorded)
    monkeypatch.setattr(Trace, "alloc", asking)
    pool.training_pool(spec, wl, states, acts)
    return seen[0]


def test_roberta_head_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    """roberta-default-l3 mixed precision (fp32 gradients), V = 50,265, h = 768, I = 3,072, 512 positions: the tied
    decoder's gradient summed with the word embeddings' once, V·h·4 = 154,414,080 B (not with the 2 × 768
    token-type table's, which the old code then looked for again and raised on); RobertaLMHead's dense weight
    h·h·4 = 2,359,296 B beside the 3 layers' 4 attention projections (12 more of that size); 3 × 2 MLP matrices
    h·I·4 = 9,437,184 B; the position table 512·h·4 = 1,572,864 B. Everything else is under 1 MiB."""
    grads = _grads_after_backward("roberta-default-l3/train-amp-adamw-fused-b4-s300", monkeypatch)
    assert grads == Counter({154_414_080: 1, 2_359_296: 13, 9_437_184: 6, 1_572_864: 1})


def test_xlnet_lm_loss_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    """xlnet-default-l2 fp32 SGD, V = 32,000, d = 1,024, inner 4,096: ``lm_loss``'s gradient summed with
    ``word_embedding``'s, V·d·4 = 131,072,000 B, once (not given to the 1,024-element ``mask_emb``); per layer
    q, k, v, o, r d·d·4 = 4,194,304 B (10) and layer_1, layer_2 d·4,096·4 = 16,777,216 B (4); ``lm_loss.bias``
    (128,000 B) is under 1 MiB."""
    grads = _grads_after_backward("xlnet-default-l2/train-fp32-sgd-eager-b2-s400", monkeypatch)
    assert grads == Counter({131_072_000: 1, 4_194_304: 10, 16_777_216: 4})
