"""MLX, HQQ and torchao int4 weight-only: bytes per tensor by each format's stated layout, worked out by hand,
and the format read from a checkpoint's config.json (MLX's ``quantization``, HQQ's and torchao's
``quantization_config``)."""

from __future__ import annotations

import pytest

from memfit import estimate, load_model
from memfit.errors import ConfigError
from memfit.formats import format_from_quantization_config, get_format, quantized_tensor_bytes
from memfit.sources.catalog import catalog_config


def test_one_matrix_by_hand() -> None:
    # 4096 x 4096: 64 groups of 64 per row; 4-bit codes are 32 bytes a group, scale + bias (or zero) 2 + 2 bytes
    assert quantized_tensor_bytes(get_format("mlx-4bit"), (4096, 4096)) == 4096 * 64 * (32 + 4)
    assert quantized_tensor_bytes(get_format("mlx-8bit"), (4096, 4096)) == 4096 * 64 * (64 + 4)
    assert quantized_tensor_bytes(get_format("hqq-4bit"), (4096, 4096)) == 4096 * 64 * (32 + 4)
    # torchao int4: groups of 128, bf16 scale and zero point
    assert quantized_tensor_bytes(get_format("torchao-int4"), (4096, 4096)) == 4096 * 32 * (64 + 4)


def test_llama_3_2_1b_in_mlx_4bit_by_hand() -> None:
    def mlx(out: int, inp: int) -> int:
        return out * (inp // 64) * 36

    layer = 2 * mlx(2048, 2048) + 2 * mlx(512, 2048) + 2 * mlx(8192, 2048) + mlx(2048, 8192) + 2 * 2048 * 2
    # the tied embedding is quantized too (MLX quantizes nn.Embedding); final norm 16-bit
    want = 16 * layer + mlx(128256, 2048) + 2048 * 2
    assert estimate("llama-3.2-1b", dtype="mlx-4bit").component("weights") == want
    # HQQ leaves the embedding in 16 bits
    hqq = 16 * layer + 128256 * 2048 * 2 + 2048 * 2
    assert estimate("llama-3.2-1b", dtype="hqq-4bit").component("weights") == hqq


@pytest.mark.parametrize(("qc", "name"), [
    ({"group_size": 64, "bits": 4}, "mlx-4bit"),
    ({"group_size": 64, "bits": 8}, "mlx-8bit"),
    ({"group_size": 32, "bits": 4}, None),  # a group size no row describes: left unnamed
    ({"quant_method": "hqq", "quant_config": {"weight_quant_params": {"nbits": 4, "group_size": 64, "axis": 1}}},
     "hqq-4bit"),
    ({"quant_method": "torchao", "quant_type": {"default": {"_type": "Int4WeightOnlyConfig",
                                                            "_data": {"group_size": 128}}}}, "torchao-int4"),
    ({"quant_method": "torchao", "quant_type": "int4_weight_only", "quant_type_kwargs": {"group_size": 128}},
     "torchao-int4"),
    ({"quant_method": "torchao", "quant_type": "int8_weight_only"}, None),
])
def test_detected_from_the_config(qc: dict[str, object], name: str | None) -> None:
    assert format_from_quantization_config(qc) == name


def test_an_mlx_checkpoint_defaults_to_its_format() -> None:
    _, cfg = catalog_config("qwen3-0.6b")
    spec = load_model(cfg | {"quantization": {"group_size": 64, "bits": 4}})
    assert spec.quantization == "mlx-4bit" and estimate(spec).dtype == "mlx-4bit"
    with pytest.raises(ConfigError, match="'bits'"):
        format_from_quantization_config({"group_size": 64, "bits": "four"})
