"""GIT's text decoder as transformers 5.25 runs it (issue 12, l12git; development case
git-default-l2/gen-fp16-eager-b3-s380-new8 in sweep-dev.jsonl, moved there from blind round 7 before its trace was
read). models/git/modeling_git.py: BERT's post-norm blocks with biased q/k/v and a plain dense -> gelu -> dense MLP,
learned absolute positions and an embeddings LayerNorm (``GitEmbeddings``), no final norm; ``GitSelfAttention``
takes the softmax in the model dtype and keeps the masked scores beside the probabilities; ``GitAttention.forward``
drops the probabilities before the MLP (``attn_output, _ = self.self(...)``); ``GitModel.forward`` keeps
``torch.zeros_like(embedding_output, dtype=torch.int)`` (b x s x hidden int32) through the whole forward."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_pool import _forward
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.workload import Workload

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
TINY_GIT = dict(
    model_type="git",
    vocab_size=100,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    hidden_act="gelu",
    max_position_embeddings=64,
    vision_config=dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16
    ),
)


def _spec() -> ModelSpec:
    return spec_from_config(dict(TINY_GIT), "tiny-git")


def test_git_runs_bert_blocks_under_a_plain_head() -> None:
    spec = _spec()
    assert spec.position_embedding == "learned" and spec.embedding_norm and not spec.final_norm
    for layer in spec.layers:
        assert layer.norm_layout == "post" and layer.mlp is not None and layer.attention is not None
        assert (layer.mlp.kind, layer.mlp.bias, layer.mlp.activation) == ("plain", True, "gelu")
        assert layer.attention.qkv_bias and layer.attention.o_bias


def test_prefill_moments_by_hand() -> None:
    # fp16 eager generate, 1 sequence of 10 tokens, hidden 64, 4 heads of 16, intermediate 128: t·h·2 = 1,280 B.
    # Always alive: the eager mask 10 x 10 x 2 = 200, input ids and attention mask 2 x 10 x 8 = 160, GIT's int32
    # zeros_like(embedding_output) 10 x 64 x 4 = 2,560: 2,920 B.
    # Attention: 3 stream tensors 3,840 + q 1,280 + 400 scores x (masked 2 + softmax 2) 1,600 + 2,920 = 9,640 B.
    # MLP: 4 stream tensors (post-norm, learned positions) 5,120 + fc out and gelu 2 x 10 x 128 x 2 = 5,120, no held
    # probabilities + 2,920 = 13,160 B.
    # (Before: read as a Llama-shaped decoder, rotary tables 640 B, fp32 softmax 8 B a score, a gated MLP 7,680 B,
    # the probabilities 800 B held through it, no int32 zeros.)
    wl = Workload(mode="inference", context=10, batch=1, task="generate", new_tokens=2, dtype="float16", attn="eager")
    moments = {m.name: m.activations for m in peak_moments(_spec(), wl.validate())}
    assert moments["prefill attention (layer 0)"] == 9_640
    assert moments["prefill MLP (layer 0)"] == 13_160


def test_pool_keeps_the_int32_zeros_to_the_end() -> None:
    # the pool's forward of the same prompt holds GIT's 2,560 B zeros (five 512 B blocks) from the embedding on
    wl = Workload(
        mode="inference", context=10, batch=1, task="generate", new_tokens=2, dtype="float16", attn="eager"
    ).validate()
    spec = _spec()
    peaks = []
    for s in (spec, replace(spec, family="git-without-zeros")):
        tr = Trace()
        tr.built()
        _forward(tr, s, wl, 2, 10, [])
        peaks.append(tr.figures().peak_allocated)
    assert peaks[0] - peaks[1] == 2_560


def test_development_case() -> None:
    # fp16 eager generate b3 s380: +4.26 % allocated, +1.04 % device total before
    row = validate_line(case_line(DEV, "git-default-l2/gen-fp16-eager-b3-s380-new8"))
    assert row.relative_error is not None and abs(row.relative_error) < 0.006, row.relative_error
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.008
