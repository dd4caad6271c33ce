"""BERT-family encoders run as causal LMs (sources/bert_family.py, memory/bert_head.py, the training pool's tied
embedding backward), from transformers 5.25's models/roberta/modeling_roberta.py and its copies, against the two
development cases moved from blind round 6 (train-sweep-dev.jsonl)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from _simulated import case_errors, training_pool_requests
from memfit.memory.activations import Precision
from memfit.memory.bert_head import bert_outside_saved
from memfit.memory.runtimes.transformers import _kernel_transient
from memfit.sources.hf_config import spec_from_config
from memfit.spec import MLPSpec
from memfit.workload import Workload

DATA = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CAMEMBERT = "camembert-default-l3/train-amp-adamw-fused-b4-s300"
XLMR = "xlm-roberta-default-l2/train-fp32-sgd-eager-b2-s400"


def _record(case: str) -> dict[str, object]:
    return next(json.loads(line) for line in DATA.read_text().splitlines() if f'"case": "{case}"' in line)


def _spec(case: str):  # type: ignore[no-untyped-def]
    rec = _record(case)
    return spec_from_config(rec["config"], str(rec["model"]))  # type: ignore[arg-type]


def test_camembert_blocks_as_its_code_runs_them() -> None:
    """CamembertConfig's defaults: learned absolute positions (position_embeddings), the MLP dense -> gelu -> dense
    with biases (CamembertIntermediate / CamembertOutput), q/k/v and the output dense with biases, LayerNorm after
    each residual add (post-norm), no norm after the last layer, a LayerNorm on the embeddings, and dropout 0.1 on
    the embeddings, each branch and the probabilities (hidden_dropout_prob, attention_probs_dropout_prob). The
    generic reader took it for a rotary, gated, bias-free, pre-norm decoder with a final norm and no dropout."""
    spec = _spec(CAMEMBERT)
    assert (spec.position_embedding, spec.final_norm, spec.embedding_norm) == ("learned", False, True)
    assert (spec.embedding_dropout, spec.residual_dropout, spec.attention_dropout) == (0.1, 0.1, 0.1)
    layer = spec.layers[0]
    assert layer.mlp == MLPSpec(3072, "plain", True, "gelu")
    assert layer.attention is not None and layer.attention.qkv_bias and layer.attention.o_bias
    assert (layer.norms, layer.norm_layout) == (2, "post")


def test_outside_saved_by_hand() -> None:
    """Per token, h = 768. Mixed precision (fp32 stream): the embeddings' LayerNorm input 4h + mean/rstd 8 = 3,080;
    dense's bf16 input cast 2h = 1,536; gelu's input (dense's bf16 output) 1,536; layer_norm's fp32 copy of gelu's
    output 4h + 8 = 3,080; the decoder's bf16 cast of the norm's output 1,536: 10,768 B. fp32: 3,080; dense's
    input (the stream) 3,072; gelu's input 3,072; layer_norm's input 3,080; the decoder's input 3,072: 15,376 B."""
    spec = _spec(CAMEMBERT)
    amp = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)
    fp32 = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)
    assert bert_outside_saved(spec, amp) == 10_768
    assert bert_outside_saved(spec, fp32) == 15_376
    assert bert_outside_saved(replace(spec, family="llama"), amp) == 0


def test_tied_embedding_backward_when_the_head_is_built_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """XLMRobertaForCausalLM.__init__ builds lm_head before roberta, so the tied V·h tensor is listed as
    lm_head.decoder.weight (kind output); its embedding_dense_backward still runs. fp32 SGD, V = 30,522, h = 768:
    V·h·4 = 93,763,584 B is asked for by the build (the word embeddings, and the decoder allocated then freed by the
    tie) and in each of the two steps by the decoder's weight gradient, embedding_dense_backward's dense gradient and
    their sum: 2 + 2 × 3 = 8 (4 before: no embedding backward)."""
    rec = _record(XLMR)
    spec = _spec(XLMR)
    asked = training_pool_requests(monkeypatch, spec, rec)
    assert asked[30_522 * 768 * 4] == 8


def test_head_built_first_frees_the_first_tied_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    """XLMRobertaForCausalLM.__init__ (transformers 5.25) makes ``lm_head`` (dense, layer_norm, ``decoder`` =
    Linear(h, V), bias) before ``roberta`` (word_embeddings first), and ``tie_weights`` sets the decoder's weight to
    the word embeddings' (``_tied_weights_keys``), freeing the decoder's own: the build asks for V·h·4 = 93,763,584 B
    twice back to back and frees the first of the two after the last layer (the simulator's trace of the
    development case: seg 4 then seg 5, seg 4 freed). Before: one V·h made there and kept, the other made after
    every layer and freed at once."""
    from memfit.memory.allocator_trace import Trace

    events: list[tuple[str, int, int]] = []
    alloc, free = Trace.alloc, Trace.free

    def rec_alloc(tr: Trace, nbytes: int) -> int:
        key = alloc(tr, nbytes)
        events.append(("M", key, nbytes))
        return key

    def rec_free(tr: Trace, *keys: int) -> None:
        events.extend(("F", k, 0) for k in keys if k)
        free(tr, *keys)

    def stop(tr: Trace) -> None:
        raise StopIteration  # the build is over

    monkeypatch.setattr(Trace, "alloc", rec_alloc)
    monkeypatch.setattr(Trace, "free", rec_free)
    monkeypatch.setattr(Trace, "built", stop)
    with pytest.raises(StopIteration):
        training_pool_requests(monkeypatch, _spec(XLMR), _record(XLMR))
    vh = [i for i, (m, _k, n) in enumerate(events) if m == "M" and n == 30_522 * 768 * 4]
    assert len(vh) == 2 and vh[1] == vh[0] + 1
    assert events[-1] == ("F", events[vh[0]][1], 0)


def test_tied_head_at_by_hand() -> None:
    """The shared V·h tensor listed under the head's name before every layer's tensor: XLM-R's index 5 (lm_head.bias,
    dense.weight, dense.bias, layer_norm.weight, layer_norm.bias, decoder.weight); RoBERTa's head is made after the
    model (listed as word_embeddings): None; so is an untied spec."""
    from memfit.memory.allocator_trace import parameter_blocks, tied_head_at
    from memfit.memory.weight_init import build_plain

    spec = _spec(XLMR)
    assert tied_head_at(spec, parameter_blocks(spec)) == 5
    roberta = _spec("roberta-default-l3/train-amp-adamw-fused-b4-s300")
    assert tied_head_at(roberta, parameter_blocks(roberta)) is None
    assert tied_head_at(replace(spec, tie_word_embeddings=False), parameter_blocks(spec)) is None

    class Rec:
        def __init__(self) -> None:
            self.events: list[tuple[str, int]] = []
            self.n = 0

        def alloc(self, nbytes: int) -> int:
            self.n += 1
            self.events.append(("M", nbytes))
            return self.n

        def free(self, *keys: int) -> None:
            self.events.extend(("F", k) for k in keys)

    blocks = parameter_blocks(spec)[:3]
    first, last = Rec(), Rec()
    build_plain(first, blocks, [10, 100, 20], tied=100, head_first=1)
    assert first.events == [("M", 10), ("M", 100), ("M", 100), ("M", 20), ("F", 2)]
    build_plain(last, blocks, [10, 100, 20], tied=100)
    assert last.events == [("M", 10), ("M", 100), ("M", 20), ("M", 100), ("F", 4)]


@pytest.mark.parametrize(("case", "allocated", "total"), [(CAMEMBERT, 0.005, 0.015), (XLMR, 0.005, 0.005)])
def test_development_cases(case: str, allocated: float, total: float) -> None:
    """camembert +3.83 % allocated / +8.58 % device total before, xlm-roberta -1.41 % / -7.07 % (then -5.68 % until
    the feed-forward's backward was replayed as torch runs it: +0.24 %)."""
    a, t = case_errors(DATA, case)
    assert abs(a) < allocated
    assert abs(t) < total


def test_eager_softmax_in_the_model_dtype_by_hand() -> None:
    """modeling_bert.py eager_attention_forward (and its copies): ``matmul(q, kᵀ) * scaling``, ``+ attention_mask``,
    ``softmax(attn_weights, dim=-1)`` without ``dtype=``. camembert's 12 heads, 1 sequence of 10 tokens: 1,200
    scores; bf16: the masked scores and the softmax, 2 + 2 = 4 B per score (4,800 B) where Llama's eager holds
    masked 2 + fp32 copy 4 + fp32 softmax 4 = 10 B (12,000 B): 7,200 B less; fp32: 8 B either way."""
    spec = _spec(CAMEMBERT)
    att = spec.layers[0].attention
    assert att is not None
    for dt_name, dt, less in (("bfloat16", 2, 7_200), ("float32", 4, 0)):
        wl = Workload(mode="inference", context=10, batch=1, task="forward", dtype=dt_name, attn="eager")
        llama = _kernel_transient(att, wl, 1, 10, dt, True, False, "llama")[0]
        for family in ("camembert", "bert", "roberta", "xlm-roberta", "data2vec-text", "ernie", "xlm-roberta-xl"):
            assert llama - _kernel_transient(att, wl, 1, 10, dt, True, False, family)[0] == less, (family, dt_name)


MEGATRON = "megatron-bert-default-l2/train-amp-adamw-fused-eager-b2-s320"


def test_megatron_bert_blocks_as_its_code_runs_them() -> None:
    """transformers 5.25 models/megatron_bert/modeling_megatron_bert.py: MegatronBertAttention.forward and
    MegatronBertLayer.feed_forward_chunk norm their input with ``ln`` (pre-norm), MegatronBertEncoder ends with
    ``ln`` (a final norm), MegatronBertEmbeddings has no LayerNorm ("In Megatron, layer-norm is applied after the
    1st dropout"), learned absolute positions, q/k/v/dense with biases, dense -> gelu -> dense. The generic reader
    took it for a rotary, gated, bias-free decoder without dropout."""
    spec = _spec(MEGATRON)
    assert (spec.position_embedding, spec.final_norm, spec.embedding_norm) == ("learned", True, False)
    assert (spec.embedding_dropout, spec.residual_dropout, spec.attention_dropout) == (0.1, 0.1, 0.1)
    layer = spec.layers[0]
    assert layer.mlp == MLPSpec(4096, "plain", True, "gelu")
    assert layer.attention is not None and layer.attention.qkv_bias and layer.attention.o_bias
    assert (layer.norms, layer.norm_layout) == (2, "pre")


def test_megatron_bert_outside_saved_by_hand() -> None:
    """Per token, h = 1,024, no embeddings' LayerNorm. MegatronBertPredictionHeadTransform (dense,
    transform_act_fn, LayerNorm) then the decoder. Mixed precision: dense's bf16 input cast 2h = 2,048; gelu's
    input 2,048; LayerNorm's fp32 copy of gelu's output 4h + mean/rstd 8 = 4,104; the decoder's bf16 cast 2,048:
    10,248 B. fp32: 4,096 + 4,096 + 4,104 + 4,096 = 16,392 B (0 on the old code: not a BERT head)."""
    spec = _spec(MEGATRON)
    amp = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)
    fp32 = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)
    assert bert_outside_saved(spec, amp) == 10_248
    assert bert_outside_saved(spec, fp32) == 16_392


def test_megatron_bert_eager_softmax_in_the_model_dtype() -> None:
    """MegatronBertSelfAttention.forward: ``torch.matmul(q, kᵀ) / sqrt(head_size)``, ``+ attention_mask``,
    ``nn.functional.softmax(attention_scores, dim=-1)`` without ``dtype=``. 16 heads, 1 sequence of 10 tokens:
    1,600 scores; bf16: the masked scores and the softmax, 2 + 2 = 4 B per score where Llama's eager holds
    2 + 4 + 4 = 10 B: 1,600 x 6 = 9,600 B less (0 on the old code)."""
    spec = _spec(MEGATRON)
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", context=10, batch=1, task="forward", dtype="bfloat16", attn="eager")
    llama = _kernel_transient(att, wl, 1, 10, 2, True, False, "llama")[0]
    assert llama - _kernel_transient(att, wl, 1, 10, 2, True, False, "megatron-bert")[0] == 9_600


def test_megatron_bert_development_case() -> None:
    """+1.94 % allocated / -0.65 % device total on the generic (Llama-shaped) reading."""
    a, t = case_errors(DATA, MEGATRON)
    assert abs(a) < 0.012
    assert abs(t) < 0.01


ELECTRA = "electra-default-l3/train-fp32-adamw-fused-eager-b3-s384"


def test_electra_outside_saved_by_hand() -> None:
    """ElectraConfig's defaults: h = 256, embedding_size e = 128 (models/electra/modeling_electra.py). Per token,
    fp32: ElectraEmbeddings.LayerNorm over e, input 4e + mean/rstd 8 = 520; embeddings_project (Linear(e, h), built
    as e != h) keeps its input 4e = 512; ElectraGeneratorPredictions.dense keeps the stream 4h = 1,024; gelu's input
    4e = 512; LayerNorm(e)'s input 4e + 8 = 520; generator_lm_head's input 4e = 512: 3,600 B. Mixed precision: 520;
    bf16 casts 2e = 256 (project), 2h = 512 (dense); gelu's bf16 input 256; the norm's fp32 copy 520; the decoder's
    bf16 cast 256: 2,320 B. 0 on the old code (electra not read as a BERT head)."""
    spec = _spec(ELECTRA)
    assert (spec.position_embedding, spec.final_norm, spec.embedding_norm) == ("learned", False, True)
    assert (spec.layers[0].norms, spec.layers[0].norm_layout) == (2, "post")
    amp = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)
    fp32 = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)
    assert bert_outside_saved(spec, fp32) == 3_600
    assert bert_outside_saved(spec, amp) == 2_320


def test_electra_development_case() -> None:
    """-0.29 % allocated on the generic reading, +0.02 % read as its code runs it."""
    a, _ = case_errors(DATA, ELECTRA)
    assert abs(a) < 0.001


REMBERT = "rembert-default-l2/train-amp-adamw-fused-eager-b2-s288"


def test_output_width_by_hand() -> None:
    """The output projection's in-features: RemBERT's ``cls.predictions.decoder`` is Linear(output_embedding_size
    1,664, V) (models/rembert/modeling_rembert.py RemBertLMPredictionHead), ELECTRA's tied ``generator_lm_head``
    Linear(embedding_size 128, V) (ElectraForCausalLM), XLM-R's tied decoder Linear(h = 768, V). On a head list
    (kind, elements, matrix) with V = 10, h = 4, untied: the V·6 ``other`` matrix is the projection (index 2), not
    the V·2 input embedding nor the 4×6 dense; before, no ``output`` matrix: None."""
    from memfit.memory.allocator_trace import output_width, projection_index

    assert [output_width(_spec(c)) for c in (REMBERT, ELECTRA, XLMR)] == [1_664, 128, 768]
    spec = replace(_spec(REMBERT), vocab_size=10, hidden_size=4)
    head = [("token_embd", 20, True), ("other", 24, True), ("other", 60, True), ("other", 10, False)]
    assert projection_index(spec, head) == 2
    assert projection_index(spec, [*head, ("output", 40, True)]) == 4  # a V·h output projection first


def test_output_projection_width_in_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training pool's output projection at its own width (fails on the old code, which took h). RemBERT,
    mixed precision, V = 250,300: the decoder weight's bf16 cast and its bf16 gradient, V·1,664·2 = 832,998,400 B,
    once each per step: 4 requests (0 before); no fp32 V·h gradient V·1,152·4 = 1,153,382,400 B (2 before, one per
    step). ELECTRA fp32, V = 30,522: no V·h·4 = 31,254,528 B request (3 before: the tied decoder made and freed at
    the build, the head's gradient each step); V·128·4 = 15,627,264 B asked 8 times: the word embeddings, the tied
    decoder at the build, and each step the head's gradient, embedding_dense_backward's and their sum (5 before)."""
    rembert = training_pool_requests(monkeypatch, _spec(REMBERT), _record(REMBERT))
    assert (rembert[832_998_400], rembert[1_153_382_400]) == (4, 0)
    monkeypatch.undo()
    electra = training_pool_requests(monkeypatch, _spec(ELECTRA), _record(ELECTRA))
    assert (electra[31_254_528], electra[15_627_264]) == (0, 8)


def test_bert_feed_forward_tensors_by_hand() -> None:
    """BertLayer's ``intermediate.dense`` (Linear(h, I)) and ``output.dense`` (Linear(I, h)) are the feed-forward's
    up and down projections; ``attention.output.dense`` stays the attention's output. Before: kind ``other``, so the
    training replay made their weight gradients at the layer's end, not by their own backward."""
    from memfit.sources.generic_tensors import _tensor

    up = _tensor("roberta.encoder.layer.0.intermediate.dense.weight", (3072, 768))
    down = _tensor("roberta.encoder.layer.0.output.dense.weight", (768, 3072))
    attn = _tensor("roberta.encoder.layer.0.attention.output.dense.weight", (768, 768))
    assert [(x.kind, x.group) for x in (up, down, attn)] == [("ffn_up", "mlp"), ("ffn_down", "mlp"),
                                                             ("attn_output", "attention")]


def test_bert_down_projection_backward_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last layer's BertOutput.dense backward in xlm-roberta-default-l2 fp32 (t = 800 tokens, I = 3,072,
    h = 768), as the simulator's trace makes it: after the head's V·h·4 gradient and the log-softmax output
    (97,670,400 B) freed, its input's
    gradient t·I·4 = 9,830,400 B, then its weight's I·h·4 = 9,437,184 B (AddmmBackward0: mat1, then mat2), then its
    saved input (gelu's output, 9,830,400 B) freed. Before: gelu's output freed first, the input's gradient, and the
    weight's gradient only at the layer's end."""
    from memfit.memory.allocator_trace import Trace

    events: list[tuple[str, int]] = []
    alloc, free = Trace.alloc, Trace.free
    sizes: dict[int, int] = {}

    def rec_alloc(tr: Trace, nbytes: int) -> int:
        key = alloc(tr, nbytes)
        sizes[key] = nbytes
        events.append(("M", nbytes))
        return key

    def rec_free(tr: Trace, *keys: int) -> None:
        events.extend(("F", sizes.get(k, 0)) for k in keys if k)
        free(tr, *keys)

    monkeypatch.setattr(Trace, "alloc", rec_alloc)
    monkeypatch.setattr(Trace, "free", rec_free)
    training_pool_requests(monkeypatch, _spec(XLMR), _record(XLMR))
    start = [i for i, e in enumerate(events) if e == ("M", 93_763_584)][2]  # the first step's head gradient (V·h·4)
    big = [e for e in events[start + 1 :] if e[1] >= 9_000_000][:4]
    assert big == [("F", 97_670_400), ("M", 9_830_400), ("M", 9_437_184), ("F", 9_830_400)]


def test_rembert_read_as_a_bert_type_by_hand() -> None:
    """RemBERT (transformers 5.25 models/rembert/modeling_rembert.py) builds BERT's blocks (RemBertSelfOutput,
    RemBertIntermediate, RemBertOutput: "Copied from" modeling_bert.py): learned positions, a biased dense -> gelu ->
    dense MLP, post-norm, no final norm, an embeddings LayerNorm (the generic reader took a rotary, gated, pre-norm
    decoder). Its embeddings are input_embedding_size e = 256 wide, mapped to h = 1,152 by
    RemBertEncoder.embedding_hidden_mapping_in, and RemBertLMPredictionHead runs dense (h -> 1,664), gelu,
    LayerNorm(1,664) before the untied decoder Linear(1,664, V = 250,300). Per token under mixed precision: the
    embeddings' LayerNorm input 4e + 8 = 1,032; embedding_hidden_mapping_in's bf16 cast 2e = 512; the head dense's
    cast 2h = 2,304; gelu's input (dense's bf16 output) 2 x 1,664 = 3,328; LayerNorm's fp32 copy 4 x 1,664 + 8 =
    6,664; the decoder's bf16 cast 3,328: 17,168 B (5,904 with the head at e, 0 on the old code). Autocast's cached
    bf16 copy of the decoder weight: 2 x V x 1,664 = 832,998,400 B (the simulator's _to_copy of it, to the byte;
    the old code 2 x V x h = 576,691,200 B)."""
    from memfit.memory.bert_head import head_width
    from memfit.memory.model_activations import model_activations

    spec = _spec(REMBERT)
    assert (spec.position_embedding, spec.final_norm, spec.embedding_norm) == ("learned", False, True)
    layer = spec.layers[0]
    assert layer.mlp == MLPSpec(4608, "plain", True, "gelu")
    assert (layer.norms, layer.norm_layout) == (2, "post")
    amp = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)
    assert bert_outside_saved(spec, amp) == 17_168
    assert [head_width(_spec(c)) for c in (REMBERT, ELECTRA, XLMR)] == [1_664, 128, 768]
    assert model_activations(spec, amp, 2, 288).head_weight_casts == 2 * 250_300 * 1_664 == 832_998_400


def test_rembert_eager_softmax_in_the_model_dtype() -> None:
    """RemBertSelfAttention.forward: ``torch.matmul(q, kᵀ)``, ``/ math.sqrt(head_size)``, ``+ attention_mask``,
    ``nn.functional.softmax(attention_scores, dim=-1)`` without ``dtype=``. 18 heads, 1 sequence of 10 tokens:
    1,800 scores; fp16: two score-sized fp16 tensors at a time, 2 + 2 = 4 B per score, where the shared path prices
    CUDA's fused half->float softmax at 8: 1,800 x 4 = 7,200 B less (0 on the old code)."""
    spec = _spec(REMBERT)
    att = spec.layers[0].attention
    assert att is not None and att.num_heads == 18
    wl = Workload(mode="inference", context=10, batch=1, task="forward", dtype="float16", attn="eager")
    llama = _kernel_transient(att, wl, 1, 10, 2, True, True, "llama")[0]
    assert llama - _kernel_transient(att, wl, 1, 10, 2, True, True, "rembert")[0] == 7_200


def test_rembert_holds_the_previous_layers_probabilities() -> None:
    """RemBertLayer.forward returns ``(layer_output,) + self_attention_outputs[1:]`` (the probabilities, whatever
    ``output_attentions`` says) and RemBertEncoder.forward binds ``layer_outputs`` until the next layer returns: the
    development prefill (fp16, 3 x 18 heads x 380 x 380) holds layer 0's probabilities, 3 x 18 x 380 x 380 x 2 =
    15,595,200 B, through layer 1 (the simulator's trace: layer 0's _softmax alive at layer 1's softmax), and at a
    layer's MLP its own (``outputs = self_attention_outputs[1:]``) beside them: 31,190,400 B (0 on the old code)."""
    from memfit.memory.runtimes.transformers_moments import peak_moments
    from memfit.validate import workload_for_case

    rec = next(json.loads(line) for line in (DATA.parent / "sweep-dev.jsonl").read_text().splitlines()
               if '"case": "rembert-default-l2/prefill-fp16-eager-b3-s380"' in line)
    spec = spec_from_config(rec["config"], "rembert")
    wl = workload_for_case("prefill", dict(rec["params"])).validate()
    moments = peak_moments(spec, wl)
    attention = next(m for m in moments if m.name.startswith("prefill attention"))
    assert "previous layer's probabilities 15,595,200" in attention.formula
    mlp = next(m for m in moments if m.name.startswith("prefill MLP"))
    assert "held attention probabilities 31,190,400" in mlp.formula


def test_rembert_development_cases() -> None:
    """Training -2.44 % allocated on the generic reading, prefill +0.89 % (the development copy simulated for this
    reading, sweep-dev.jsonl); read as a BERT type with its own widths and held probabilities: -0.02 %, -0.04 %."""
    a, _ = case_errors(DATA, REMBERT)
    assert abs(a) < 0.001
    a, _ = case_errors(DATA.parent / "sweep-dev.jsonl", "rembert-default-l2/prefill-fp16-eager-b3-s380")
    assert abs(a) < 0.001
