"""EXL2, EXL3 and torchao int8/float8 weight-only: bytes worked out by hand from each format's stored tensors, and
their detection from config.json's ``quantization_config`` as the converters write it, and the runtimes that
refuse them.

Sources (data/formats.toml rows): exllamav2 conversion/qparams.py (QParams.total_bits, qparams_headoptions) and
compile.py (quantization_config quant_method/bits/head_bits); exllamav3 modules/quant/exl3.py (trellis int16
[in/16, out/16, 16K], suh/svh fp16) and conversion/compile.py; torchao Int8Tensor.from_hp (int8 qdata, fp32 scale
and int8 zero point per row) and Float8Tensor.from_hp (fp8 qdata, fp32 scale per row).
"""

from __future__ import annotations

from typing import Any

import pytest

from memfit import estimate, load_model
from memfit.errors import ConfigError, UnsupportedError
from memfit.formats import format_from_quantization_config, get_format, quantized_tensor_bytes


def test_torchao_int8_and_float8_per_row() -> None:
    # (out 256, in 128): 32,768 int8 codes + 256 rows × (4-byte fp32 scale + 1-byte int8 zero point) = 34,048
    assert quantized_tensor_bytes(get_format("torchao-int8"), (256, 128)) == 32_768 + 256 * 5 == 34_048
    # float8: 32,768 e4m3 codes + 256 fp32 scales = 33,792
    assert quantized_tensor_bytes(get_format("torchao-float8"), (256, 128)) == 32_768 + 256 * 4 == 33_792


def test_exl2_decoder_linear_is_its_share_of_the_budget() -> None:
    # 256 × 128 = 32,768 weights at 4.65 bpw: 152,371.2 bits = 19,046.4 bytes -> 19,047
    assert quantized_tensor_bytes(get_format("exl2-4.65bpw-h6"), (256, 128)) == 19_047


def test_exl2_head_is_exllamav2s_head_option() -> None:
    fmt = get_format("exl2-4.65bpw-h6")
    # lm_head (out 1000, in 512), head option 6 = QParams(128, [8, 6], [0.15, 0.85], 4); rows = in = 512:
    #   8-bit: ceil(min(76.8, 512) / 128) = 1 group (128 rows), 384 rows left
    #   6-bit: ceil(min(435.2, 384) / 128) = 3 groups (384 rows); 4 groups in all
    #   q_weight 128·1000·8 + 384·1000·6 = 3,328,000; q_scale_max 4·16 = 64; q_groups 4·32 = 128;
    #   q_scale 4·1000·4 = 16,000; q_invperm 512·32 = 16,384 -> 3,360,576 bits = 420,072 bytes
    assert quantized_tensor_bytes(fmt, (1000, 512), "lm_head") == 420_072
    # in 128: one 8-bit group covers all 128 rows: 1,024,000 + 16 + 32 + 4,000 + 4,096 = 1,032,144 bits
    assert quantized_tensor_bytes(fmt, (1000, 128), "lm_head") == 129_018
    assert quantized_tensor_bytes(get_format("exl2-4bpw-h16"), (1000, 128), "lm_head") == 256_000  # 16-bit head


def test_exl3_trellis_and_sign_vectors() -> None:
    # (out 256, in 128) at K = 4: trellis 8·16·64 int16 = 16,384 B; suh 128 fp16 = 256 B; svh 256 fp16 = 512 B
    assert quantized_tensor_bytes(get_format("exl3-4bpw-h6-3inst"), (256, 128)) == 16_384 + 256 + 512 == 17_152
    assert quantized_tensor_bytes(get_format("exl3-4bpw-h6-mul1"), (256, 128)) == 17_156  # + the int32 multiplier
    # K = 3.5 (mul1's half-integer rate): 14,336 + 256 + 512 + 4
    assert quantized_tensor_bytes(get_format("exl3-3.5bpw-h6-mul1"), (256, 128)) == 15_108
    # the head (out 1000, in 512) at head_bits 6: 384,000 + 1,024 + 2,000
    assert quantized_tensor_bytes(get_format("exl3-4bpw-h6-3inst"), (1000, 512), "lm_head") == 387_024


def _tiny(tied: bool) -> dict[str, Any]:
    """One Llama layer: hidden 128, 4 heads of 32 (2 KV heads), MLP 256, vocabulary 1,000."""
    return {"model_type": "llama", "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 1,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 512,
            "tie_word_embeddings": tied, "torch_dtype": "bfloat16"}


# the layer's linears (out, in): q 128×128, k 64×128, v 64×128, o 128×128, gate 256×128, up 256×128, down 128×256;
# 16-bit: embedding 1000×128 = 256,000 B, lm_head 256,000 B (untied), norms 3 × 128 × 2 = 768 B
@pytest.mark.parametrize(("fmt", "linears", "head"), [
    # out·in + 5·out each: 17,024 + 8,512 + 8,512 + 17,024 + 34,048 + 34,048 + 33,408; lm_head stays 16-bit
    ("torchao-int8", 152_576, 256_000),
    # out·in + 4·out each: 16,896 + 8,448 + 8,448 + 16,896 + 33,792 + 33,792 + 33,280
    ("torchao-float8", 151_552, 256_000),
    # ceil(numel × 4.65 / 8): 9,524 + 4,762 + 4,762 + 9,524 + 3 × 19,047; head option 6 on in 128: 129,018
    ("exl2-4.65bpw-h6", 85_713, 129_018),
    # numel/2 + 2·in + 2·out: 8,704 + 4,480 + 4,480 + 8,704 + 3 × 17,152; head 96,000 + 256 + 2,000
    ("exl3-4bpw-h6-3inst", 77_824, 98_256),
])
def test_a_whole_small_model(fmt: str, linears: int, head: int) -> None:
    total = linears + head + 256_000 + 768
    assert estimate(load_model(_tiny(tied=False)), dtype=fmt).total_bytes == total


@pytest.mark.parametrize("fmt", ["exl2-4.65bpw-h6", "exl3-4bpw-h6-3inst"])
def test_exllama_writes_its_own_head_for_tied_embeddings(fmt: str) -> None:
    """The converters untie the output layer: a tied model costs the same as an untied one."""
    tied = estimate(load_model(_tiny(tied=True)), dtype=fmt)
    assert tied.total_bytes == estimate(load_model(_tiny(tied=False)), dtype=fmt).total_bytes
    assert any("tied output layer" in n for n in tied.notes)


@pytest.mark.parametrize(("qc", "name"), [
    # exllamav2 conversion/compile.py writes quant_method, version, bits, head_bits, calibration
    ({"quant_method": "exl2", "version": "0.2.7", "bits": 4.65, "head_bits": 6,
      "calibration": {"rows": 115, "length": 2048, "dataset": "(default)"}}, "exl2-4.65bpw-h6"),
    ({"quant_method": "exl2", "bits": 8.0, "head_bits": 8}, "exl2-8bpw-h8"),
    # exllamav3 conversion/compile.py: quant_method, version, bits, head_bits, calibration, out_scales, codebook
    ({"quant_method": "exl3", "version": "0.0.18", "bits": 4.0, "head_bits": 6, "codebook": "mul1",
      "out_scales": "auto"}, "exl3-4bpw-h6-mul1"),
    ({"quant_method": "exl3", "bits": 3.0, "head_bits": 6}, "exl3-3bpw-h6-3inst"),  # before the codebook option
    # transformers TorchAoConfig.to_dict: quant_type {"default": {"_type", "_version", "_data"}}
    ({"quant_method": "torchao", "quant_type": {"default": {"_type": "Int8WeightOnlyConfig", "_version": 2,
      "_data": {"granularity": {"_type": "PerRow", "_version": 1, "_data": {}}}}}}, "torchao-int8"),
    ({"quant_method": "torchao", "quant_type": {"default": {"_type": "Float8WeightOnlyConfig", "_version": 2,
      "_data": {"weight_dtype": {"_type": "torch.dtype", "_data": "float8_e4m3fn"}}}}}, "torchao-float8"),
    # per-tensor scales, or version 1 (int64 zero points): not the rows described, left unnamed
    ({"quant_method": "torchao", "quant_type": {"default": {"_type": "Int8WeightOnlyConfig", "_version": 2,
      "_data": {"granularity": {"_type": "PerTensor", "_version": 1, "_data": {}}}}}}, None),
    ({"quant_method": "torchao", "quant_type": "int8_weight_only"}, None),
])
def test_detected_from_config_json(qc: dict[str, Any], name: str | None) -> None:
    assert format_from_quantization_config(qc) == name
    if name is not None:
        assert get_format(name).name == name


def test_a_checkpoint_is_priced_in_its_own_format() -> None:
    cfg = {**_tiny(tied=False), "quantization_config": {"quant_method": "exl2", "bits": 4.65, "head_bits": 6}}
    assert estimate(load_model(cfg)).total_bytes == 85_713 + 129_018 + 256_000 + 768


@pytest.mark.parametrize("bad", [{"quant_method": "exl2", "bits": "4.65", "head_bits": 6},
                                 {"quant_method": "exl2", "bits": 4.0, "head_bits": 7},
                                 {"quant_method": "exl3", "bits": 4.0, "codebook": "zzz"}])
def test_bad_fields_are_one_clear_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        name = format_from_quantization_config(bad)
        assert name is not None
        get_format(name)


@pytest.mark.parametrize("runtime", ["transformers", "vllm", "sglang", "llamacpp", "ollama"])
def test_exllama_formats_are_refused_by_every_runtime_memfit_models(runtime: str) -> None:
    for fmt in ("exl2", "exl3"):
        with pytest.raises(UnsupportedError, match="ExLlamaV"):
            estimate("llama-3.1-8b", mode="inference", runtime=runtime, dtype=fmt, context=2048)
    assert estimate("llama-3.1-8b", dtype="exl2").total_bytes > 0  # the weights alone are priced


@pytest.mark.parametrize(("runtime", "runs"), [("transformers", True), ("vllm", True), ("llamacpp", False)])
def test_torchao_formats_run_where_torchao_checkpoints_load(runtime: str, runs: bool) -> None:
    for fmt in ("torchao-int8", "torchao-float8"):
        if runs:
            assert estimate("llama-3.1-8b", mode="inference", runtime=runtime, dtype=fmt).total_bytes > 0
        else:
            with pytest.raises(UnsupportedError):
                estimate("llama-3.1-8b", mode="inference", runtime=runtime, dtype=fmt)
