"""ProphetNet's decoder in transformers inference (issue 12, l12prophet; development case
prophetnet-default-l2/fwd-eager-b2-s330 in sweep-dev.jsonl, moved there from blind round 7 before its trace was read).
transformers 5.25 models/prophetnet: ``ProphetNetConfig`` names the decoder's heads ``num_decoder_attention_heads``;
``ProphetNetDecoder.forward`` runs the main stream and ``ngram`` predict streams as one sequence,
``ProphetNetNgramSelfAttention.get_predict_relative_pos_embeddings`` repeats the predict buckets to every stream and
head and makes their int64 copy, ``ProphetNetForCausalLM.forward`` projects every predict stream
(runtimes/transformers_prophetnet)."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_errors
from memfit.memory.runtimes.transformers_prophetnet import ngram_attention_peak, ngram_streams
from memfit.sources.hf_config import spec_from_config

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "prophetnet-default-l2/fwd-eager-b2-s330"
TINY_PROPHETNET = dict(
    model_type="prophetnet",
    vocab_size=100,
    hidden_size=8,
    num_encoder_layers=1,
    num_decoder_layers=1,
    num_encoder_attention_heads=2,
    num_decoder_attention_heads=2,
    encoder_ffn_dim=16,
    decoder_ffn_dim=16,
    max_position_embeddings=64,
    ngram=2,
    num_buckets=4,
    relative_max_distance=16,
    is_decoder=True,
    add_cross_attention=True,
)


def test_prophetnet_reads_its_decoder_heads() -> None:
    spec = spec_from_config(dict(TINY_PROPHETNET), "tiny-prophetnet")
    att = spec.layers[0].attention
    assert att is not None  # before: no head count read, the layer taken for a recurrent mixer
    assert (att.num_heads, att.head_dim) == (2, 4)
    assert ngram_streams(spec) == 2


def test_prophetnet_ngram_attention_by_hand() -> None:
    spec = spec_from_config(dict(TINY_PROPHETNET), "tiny-prophetnet")
    att = spec.layers[0].attention
    assert att is not None
    # b 1, s 4 per stream, hidden 8 (2 heads x 4), ngram 2, 4 buckets, bf16 (2 B); one stream's vector 1x4x8x2 = 64 B
    # held: predict inputs 2 x 64 + main buckets 4x4x4 B + predict buckets 4x8x4 B + predict mask 2x4x8x2 B = 448
    # q, k, v over 3 streams: 3 x 3 x 64 = 576; main scores, bias, probs 3 x 2x4x4x2 + main output 64 = 256
    # stacked predict q (2), k (4), h (2), v (4): 12 x 64 = 768; bias projection copy 2x4x2x4x2 = 128
    # predict scores 2x1x2x4x8 = 128 elements x (2 + 4 int32 + 8 int64) = 1,792; total 3,968
    got = ngram_attention_peak(spec, att, 1, 4, 2)
    assert got is not None and got[0] == 3_968
    llama = spec_from_config(
        dict(
            model_type="llama",
            vocab_size=100,
            hidden_size=8,
            num_attention_heads=2,
            num_hidden_layers=1,
            intermediate_size=16,
        ),
        "tiny-llama",
    )
    assert ngram_attention_peak(llama, att, 1, 4, 2) is None and ngram_streams(llama) == 0


def test_prophetnet_dev_case() -> None:
    allocated, total = case_errors(DEV, CASE)  # -40.85 % / -13.35 % before
    assert abs(allocated) < 0.01
    assert abs(total) < 0.04
