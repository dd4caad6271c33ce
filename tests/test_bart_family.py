"""The BART family's eager attention and the causal-LM heads without ``logits_to_keep`` (issue 12, l12bart;
development cases plbart-default-l2/fwd-eager-b2-s900 and trocr-default-l2/gen-fp16-eager-b3-s500-new8 in
sweep-dev.jsonl, moved there from blind round 6 before their traces were read). transformers 5.25
models/bart/modeling_bart.py ``eager_attention_forward`` (copied into mbart, plbart, blenderbot, blenderbot_small,
marian, pegasus, bigbird_pegasus, whisper) and ``MvpAttention`` / ``TrOCRAttention`` take the softmax in the input
dtype: two score-sized tensors of the model dtype at a time, where Llama's holds the masked scores, an fp32 copy and
the fp32 softmax. ``TrOCRForCausalLM`` and ``WhisperForCausalLM`` project every prompt position (no
``logits_to_keep``), and generate holds those logits through the first token's sampling."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.runtimes.transformers import _kernel_transient
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_pool import _forward
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.pool import _loss_backward, _loss_forward
from memfit.memory.training.states import training_precision
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
TINY_PLBART = dict(
    model_type="plbart",
    vocab_size=100,
    d_model=64,
    decoder_layers=2,
    decoder_attention_heads=4,
    decoder_ffn_dim=128,
    encoder_layers=2,
    encoder_attention_heads=4,
    encoder_ffn_dim=128,
    max_position_embeddings=64,
)
TINY_TROCR = dict(
    model_type="trocr",
    vocab_size=100,
    d_model=64,
    decoder_layers=2,
    decoder_attention_heads=4,
    decoder_ffn_dim=128,
    max_position_embeddings=64,
)


def _eager(spec_family: str, dt_name: str) -> int:
    spec = spec_from_config(dict(TINY_PLBART), "tiny-plbart")
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", context=10, batch=1, task="forward", dtype=dt_name, attn="eager")
    dt = 2 if dt_name != "float32" else 4
    return _kernel_transient(att, wl, 1, 10, dt, True, dt_name == "float16", spec_family)[0]


def test_bart_eager_softmax_in_the_model_dtype_by_hand() -> None:
    # 1 sequence of 10 tokens, 4 heads: 400 scores. bf16: scaled and masked scores / softmax, 2 + 2 = 4 B per score
    # (1,600 B) where Llama's eager holds masked 2 + fp32 copy 4 + fp32 softmax 4 = 10 B (4,000 B): 2,400 B less;
    # fp16: 4 B against 8 (the fused half->float softmax 4 + masked 2 + its fp16 cast 2): 1,600 B less;
    # fp32: two fp32 tensors, 8 B against 8: the same
    for dt_name, less in (("bfloat16", 2_400), ("float16", 1_600), ("float32", 0)):
        assert _eager("llama", dt_name) - _eager("plbart", dt_name) == less, dt_name
    for family in (
        "bart",
        "mbart",
        "blenderbot",
        "blenderbot-small",
        "marian",
        "pegasus",
        "bigbird_pegasus",
        "whisper",
        "mvp",
        "trocr",
    ):
        assert _eager("llama", "bfloat16") - _eager(family, "bfloat16") == 2_400, family


def test_trocr_prompt_logits_by_hand() -> None:
    # 2 sequences of 10 tokens, vocab 100, bf16: generate's prefill projects all 20 positions, 20 x 100 x 2 = 4,000 B,
    # held through the first sampling (its last-token fp32 copy and processors 2 x 100 x 20 B + the vocab index
    # 100 x 9 B): 4,000 + 4,000 + 900 = 8,900 B, where a head with logits_to_keep holds 2 x 100 x 22 + 900 = 5,300 B
    spec = spec_from_config(dict(TINY_TROCR), "tiny-trocr")
    wl = Workload(mode="inference", context=10, batch=2, task="generate", new_tokens=4, dtype="bfloat16", attn="eager")
    trocr = {m.name: m.logits for m in peak_moments(spec, wl)}
    keeps = {m.name: m.logits for m in peak_moments(replace(spec, family="trocr-with-logits-to-keep"), wl)}
    assert (trocr["after prefill"], keeps["after prefill"]) == (8_900, 5_300)
    assert trocr["logits"] == 4_000 and "logits" not in keeps
    # the pool's forward over a vocab of 100,000: the head's output is 20 rows (4,000,000 B, 4,000,256 in 512 B
    # blocks), where a head with logits_to_keep makes 2 (400,000 B, 400,384 in blocks); both peak at the head
    big = spec_from_config(dict(TINY_TROCR, vocab_size=100_000), "tiny-trocr")
    peaks = []
    for s in (big, replace(big, family="trocr-with-logits-to-keep")):
        tr = Trace()
        tr.built()
        _forward(tr, s, wl, 2, 10, [])
        peaks.append(tr.figures().peak_allocated)
    assert peaks[0] - peaks[1] == 4_000_256 - 400_384


def test_development_cases() -> None:
    # plbart bf16 eager forward: +6.46 % allocated, +8.13 % device total before; trocr fp16 eager generate: -11.78 %
    # / -10.77 % before
    for case, alloc, total in (
        ("plbart-default-l2/fwd-eager-b2-s900", 0.005, 0.015),
        ("trocr-default-l2/gen-fp16-eager-b3-s500-new8", 0.005, 0.01),
    ):
        row = validate_line(case_line(DEV, case))
        assert row.relative_error is not None and abs(row.relative_error) < alloc, (case, row.relative_error)
        assert row.predicted_total is not None and row.measured_total is not None
        assert abs(row.predicted_total / row.measured_total - 1) < total, case


def _train(family: str, amp: bool = False) -> tuple[object, object]:
    spec = replace(spec_from_config(dict(TINY_PLBART, vocab_size=1_000), "tiny-plbart"), family=family)
    wl = Workload(mode="train", context=10, batch=2, optimizer="adamw", mixed_precision=amp)
    return spec, training_precision(spec, wl.validate())


def test_model_dtype_cross_entropy_by_hand() -> None:
    # PLBartForCausalLM: CrossEntropyLoss on the bf16 logits of 2 x 10 tokens over 1,000 words (20,000 logits):
    # log_softmax's bf16 output kept (40,000 B) where ForCausalLMLoss keeps its fp32 one (80,000); at the loss the
    # logits 40,000 + (ForCausalLMLoss) their fp32 copy 80,000; backward: nll_loss's and log_softmax's bf16
    # gradients, 2 x 40,000, where ForCausalLMLoss makes two fp32 ones, 2 x 80,000
    plbart = model_activations(*_train("plbart"), 2, 10)  # type: ignore[arg-type]
    llama = model_activations(*_train("llama"), 2, 10)  # type: ignore[arg-type]
    assert (plbart.loss_saved, llama.loss_saved) == (40_000, 80_000)
    assert llama.loss_forward_extra - plbart.loss_forward_extra == 80_000
    assert (plbart.loss_backward_extra, llama.loss_backward_extra) == (80_000, 160_000)
    # under autocast log_softmax runs in fp32: the same as ForCausalLMLoss
    amp = model_activations(*_train("plbart", amp=True), 2, 10)  # type: ignore[arg-type]
    assert amp.loss_saved == model_activations(*_train("llama", amp=True), 2, 10).loss_saved  # type: ignore[arg-type]


def test_model_dtype_cross_entropy_in_the_pool_by_hand() -> None:
    # the pool's loss: logits (40,000 B, 40,448 in 512 B blocks) and log_softmax (the same) at the forward's loss,
    # where ForCausalLMLoss adds the fp32 copy and makes an fp32 log-softmax (80,384 B each in blocks)
    peaks = {}
    for family in ("plbart", "llama"):
        spec, p = _train(family)
        tr = Trace()
        tr.built()
        c = StepContext(tr, spec, p, 2, 10)  # type: ignore[arg-type]
        start = tr.pool.allocated
        keys = _loss_forward(c, tr.alloc(20 * 64 * 2))
        fwd = tr.pool.peak_allocated - start
        _loss_backward(c, keys, [])
        peaks[family] = (fwd, tr.pool.peak_allocated - start)
    normed = x = 20 * 64 * 2  # the final norm's output and the stream: 2,560 B each (five 512 B blocks)
    assert peaks["plbart"][0] == normed + x + 2 * 40_448
    assert peaks["llama"][0] == normed + x + 40_448 + 2 * 80_384
    # backward: ForCausalLMLoss holds log_softmax's fp32 output and nll_loss's and log_softmax's fp32 gradients
    # (3 x 80,384 B, its peak); with CrossEntropyLoss in bf16 those are 3 x 40,448 and the peak is the head's
    # backward: the logits' bf16 gradient 40,448 + the head weight's gradient 1,000 x 64 x 2 = 128,000 + the
    # input's gradient 2,560
    assert peaks["llama"][1] == normed + x + 3 * 80_384
    assert peaks["plbart"][1] == normed + x + 40_448 + 128_000 + 2_560
