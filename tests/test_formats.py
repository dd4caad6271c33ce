"""Weight formats: the data table, exact per-tensor bytes, llama.cpp's mixture rules, name lookup."""

from __future__ import annotations

import ast
import operator
import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import memfit
from memfit.errors import ConfigError
from memfit.formats import (
    get_format,
    ggml_type,
    ggml_types,
    gguf_tensor_types,
    list_formats,
    quantized_tensor_bytes,
    tensor_role,
)
from memfit.inventory import inventory
from memfit.spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
VECTORS = ROOT / "tests" / "vectors" / "format_bytes.toml"

# formulas.md §1.5 (ggml-org/ggml src/ggml-common.h + src/ggml.c type_traits), typed in by hand:
# name: (type id, block elements, bytes per block)
PUBLISHED_GGML = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "BF16": (30, 1, 2),
    "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34),
    "Q8_1": (9, 32, 36), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "Q8_K": (15, 256, 292), "IQ2_XXS": (16, 256, 66),
    "IQ2_XS": (17, 256, 74), "IQ3_XXS": (18, 256, 98), "IQ1_S": (19, 256, 50), "IQ4_NL": (20, 32, 18),
    "IQ3_S": (21, 256, 110), "IQ2_S": (22, 256, 82), "IQ4_XS": (23, 256, 136), "IQ1_M": (29, 256, 56),
    "TQ1_0": (34, 256, 54), "TQ2_0": (35, 256, 66), "MXFP4": (39, 32, 17), "NVFP4": (40, 64, 36),
    "Q1_0": (41, 128, 18), "Q2_0": (42, 64, 18),
}
# formulas.md §1.5 bpw column
PUBLISHED_BPW = {"Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "Q8_0": 8.5, "Q2_K": 2.625, "Q3_K": 3.4375,
                 "Q4_K": 4.5, "Q5_K": 5.5, "Q6_K": 6.5625, "Q8_K": 9.125, "IQ2_XXS": 2.0625, "IQ2_XS": 2.3125,
                 "IQ3_XXS": 3.0625, "IQ1_S": 1.5625, "IQ4_NL": 4.5, "IQ3_S": 3.4375, "IQ2_S": 2.5625,
                 "IQ4_XS": 4.25, "IQ1_M": 1.75, "TQ1_0": 1.6875, "TQ2_0": 2.0625, "MXFP4": 4.25, "NVFP4": 4.5,
                 "Q1_0": 1.125, "Q2_0": 2.25}


# ---------------------------------------------------------------------------------------------
# the ggml type table


@pytest.mark.parametrize("name", sorted(PUBLISHED_GGML))
def test_ggml_type_table_reproduces_formulas_md(name: str) -> None:
    t = ggml_type(name)
    assert (t.id, t.block, t.bytes) == PUBLISHED_GGML[name]
    if name in PUBLISHED_BPW:
        assert t.bits == PUBLISHED_BPW[name]


def test_every_ggml_type_has_a_source_and_unique_id() -> None:
    types = ggml_types()
    assert all(t.source for t in types.values())
    ids = Counter(t.id for t in types.values())
    assert max(ids.values()) == 1
    assert set(PUBLISHED_GGML) <= set(types)
    assert not ({4, 5, 31, 32, 33, 36, 37, 38} & set(ids))  # removed types (formulas.md §1.5)


def test_ggml_table_against_formulas_md_file() -> None:
    """Parse the §1.5 table itself when the reference folder is beside the repo."""
    path = SHARED / "reference" / "formulas.md"
    if not path.exists():
        pytest.skip("shared reference folder not present")
    text = path.read_text()
    section = text[text.index("### 1.5"):text.index("### 1.6")]
    rows = 0
    for m in re.finditer(r"^\| (\w+) \((\d+)\) \| (\d+) \| [^|]* \| (\d+) \|", section, re.MULTILINE):
        name, tid, block, nbytes = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        t = ggml_type(name)
        assert (t.id, t.block, t.bytes) == (tid, block, nbytes), name
        rows += 1
    assert rows >= 25


def test_ggml_table_against_gguf_package() -> None:
    """Independent cross-check with gguf-py's GGML_QUANT_SIZES (not used by memfit itself)."""
    gguf = pytest.importorskip("gguf")
    sizes = gguf.constants.GGML_QUANT_SIZES
    checked = 0
    for qtype, (block, nbytes) in sizes.items():
        ours = ggml_types().get(qtype.name)
        assert ours is not None, qtype.name
        assert ours.id == qtype.value, qtype.name
        if qtype.name == "Q8_1":
            # gguf-py still has the old fp32 d/s layout (4 + 4 + 32); ggml's block_q8_1 is now half2 ds + 32 = 36
            assert (block, nbytes) == (32, 40) or (block, nbytes) == (32, 36)
            continue
        assert (ours.block, ours.bytes) == (block, nbytes), qtype.name
        checked += 1
    assert checked >= 30


def test_gguf_types_by_id() -> None:
    from memfit.formats import gguf_types

    table = gguf_types()
    assert table[12] == ("Q4_K", 256, 144) and table[0] == ("F32", 1, 4) and table[39] == ("MXFP4", 32, 17)


def test_ggml_row_must_fill_blocks() -> None:
    assert ggml_type("q4_k").row_bytes(4096) == 16 * 144
    with pytest.raises(ConfigError, match="multiple of Q4_K's block"):
        ggml_type("Q4_K").row_bytes(896)


# ---------------------------------------------------------------------------------------------
# exact bytes per tensor, from hand-worked vectors

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv}


def _arith(expr: str) -> int:
    """Evaluate integer arithmetic (+ - * // and parentheses) without eval."""
    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return int(_OPS[type(node.op)](ev(node.left), ev(node.right)))
        raise ValueError(f"not integer arithmetic: {ast.dump(node)}")
    return ev(ast.parse(expr, mode="eval"))


def _vectors() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = tomllib.loads(VECTORS.read_text())["vector"]
    return rows


@pytest.mark.parametrize("vec", _vectors(), ids=lambda v: f"{v.get('type') or v.get('format')}-{v['shape']}")
def test_tensor_bytes_vector(vec: dict[str, Any]) -> None:
    shape = tuple(vec["shape"])
    expected = _arith(vec["expected"])
    if "type" in vec:
        assert ggml_type(vec["type"]).tensor_bytes(shape) == expected, vec["why"]
    else:
        assert quantized_tensor_bytes(get_format(vec["format"]), shape) == expected, vec["why"]


def test_nominal_bits_match_exact_layouts_at_4096() -> None:
    """The nominal bpw in the table is the per-tensor layout's bits at a 4096 × 4096 matrix."""
    n = 4096 * 4096
    for name, slack in (("nf4", 64), ("fp4", 64), ("nf4-dq", 4 + 1024 + 64), ("fp8-block", 0), ("int8", 0),
                        ("int8-rowwise", 0), ("mxfp4", 0), ("awq", 0)):
        fmt = get_format(name)
        nbytes = quantized_tensor_bytes(fmt, (4096, 4096)) - slack
        assert nbytes * 8 / n == pytest.approx(fmt.bits, rel=1e-12), name
    # GPTQ adds g_idx (32 bits per input feature): 4.15625 + 32/4096
    assert quantized_tensor_bytes(get_format("gptq"), (4096, 4096)) * 8 / n == 4.15625 + 32 / 4096


# ---------------------------------------------------------------------------------------------
# name lookup


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("fp32", "float32"), ("FLOAT32", "float32"), ("f32", "float32"), ("fp16", "float16"), ("half", "float16"),
     ("bf16", "bfloat16"), ("BFloat16", "bfloat16"), ("fp8", "fp8"), ("fp8_e4m3", "fp8"), ("fp8_e5m2", "fp8-e5m2"),
     ("fp8-block", "fp8-block"), ("int8", "int8"), ("int4", "int4"), ("int8-row", "int8-rowwise"),
     ("w4a16", "int4-rowwise"), ("nf4", "nf4"), ("NF4-DQ", "nf4-dq"),
     ("fp4", "fp4"), ("fp4-dq", "fp4-dq"), ("llm.int8", "bnb-int8"), ("bnb-int8", "bnb-int8"), ("gptq", "gptq"),
     ("gptq-int4", "gptq"), ("gptq-8bit", "gptq-8bit"), ("awq", "awq"), ("mxfp4", "mxfp4"), ("nvfp4", "nvfp4"),
     ("Q4_K_M", "q4_k_m"), ("q4_k_m", "q4_k_m"), ("Q4_K", "q4_k_m"), ("q5_k", "q5_k_m"), ("Q3_K", "q3_k_m"),
     ("q8_0", "q8_0"), ("Q4_0", "q4_0"), ("iq4_xs", "iq4_xs"), ("IQ2_M", "iq2_m"), ("MXFP4_MOE", "mxfp4_moe"),
     ("gguf-f16", "gguf-f16"), ("gguf-nvfp4", "gguf-nvfp4"), ("q4_k-pure", "q4_k-pure"), ("Q8_K", "q8_k-pure"),
     ("q2_0", "q2_0-pure"), ("gguf:Q4_K_M", "q4_k_m"), ("gguf:F16", "gguf-f16"), ("gguf:NVFP4", "gguf-nvfp4")],
)
def test_format_names(spelling: str, canonical: str) -> None:
    assert get_format(spelling).name == canonical


def test_gguf_ftype_ids_and_defaults() -> None:
    # include/llama.h enum llama_ftype; llama-quant.cpp llama_ftype_get_default_type
    expected = {"q4_0": (2, "Q4_0"), "q8_0": (7, "Q8_0"), "q2_k": (10, "Q2_K"), "q3_k_m": (12, "Q3_K"),
                "q4_k_m": (15, "Q4_K"), "q5_k_m": (17, "Q5_K"), "q6_k": (18, "Q6_K"), "iq2_s": (28, "IQ2_XS"),
                "iq2_m": (29, "IQ2_S"), "iq3_xs": (22, "IQ3_S"), "iq3_m": (27, "IQ3_S"), "mxfp4_moe": (38, "MXFP4"),
                "gguf-bf16": (32, "BF16")}
    for name, (ftype_id, default) in expected.items():
        fmt = get_format(name)
        assert (fmt.ftype_id, fmt.default_type) == (ftype_id, default), name


def test_gguf_ftype_ids_against_gguf_package() -> None:
    gguf = pytest.importorskip("gguf")
    for fmt in list_formats():
        if fmt.ftype is None:
            continue
        member = "ALL_F32" if fmt.ftype == "F32" else f"MOSTLY_{fmt.ftype}"
        assert gguf.constants.LlamaFileType[member].value == fmt.ftype_id, fmt.ftype


def test_grouped_spellings() -> None:
    f = get_format("gptq-3bit-g64")
    assert (f.element_bits, f.block) == (3, 64)
    assert f.bits == 3 + (16 + 3) / 64
    assert get_format("awq-4bit-g32").block == 32
    per_row = get_format("gptq-4bit-g-1")
    assert per_row.block == -1
    # one group per row: qweight + 1 × qzeros row + 1 × scales row + g_idx
    assert quantized_tensor_bytes(per_row, (1024, 4096)) == 512 * 1024 * 4 + 1 * 128 * 4 + 1 * 1024 * 2 + 4096 * 4


def test_bnb_quant_names() -> None:
    from memfit.formats import bnb_format

    assert bnb_format("int8").name == "bnb-int8"  # Workload.quant "int8" is LLM.int8
    assert bnb_format("NF4-DQ").name == "nf4-dq"
    assert all(bnb_format(q).quantizes == ("linear",) for q in ("nf4", "nf4-dq", "fp4", "fp4-dq", "int8"))
    with pytest.raises(ConfigError, match="bitsandbytes"):
        bnb_format("q4_k_m")


@pytest.mark.parametrize(
    ("qc", "name"),
    [({"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128], "activation_scheme": "dynamic"},
      "fp8-block"),  # deepseek-ai/DeepSeek-R1 config.json
     ({"quant_method": "fp8", "activation_scheme": "static"}, "fp8"),
     ({"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn"]}, "mxfp4"),
     ({"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False}, "gptq-4bit-g128"),
     ({"quant_method": "awq", "bits": 4, "group_size": 64, "version": "gemm"}, "awq-4bit-g64"),
     ({"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
       "bnb_4bit_use_double_quant": True}, "nf4-dq"),
     ({"quant_method": "bitsandbytes", "load_in_8bit": True}, "bnb-int8"),
     ({"quant_method": "modelopt", "quant_algo": "NVFP4"}, "nvfp4"),
     ({"quant_method": "hqq"}, None), (None, None),
     ({"quant_method": "fp8", "weight_block_size": 128}, None)],  # not a [rows, cols] pair: no known layout
)
def test_format_from_quantization_config(qc: dict[str, Any] | None, name: str | None) -> None:
    from memfit.formats import format_from_quantization_config

    assert format_from_quantization_config(qc) == name
    if name is not None:
        get_format(name)  # resolvable


def test_deepseek_r1_checkpoint_format() -> None:
    """DeepSeek-R1 ships block fp8: every block projection, experts included, in e4m3 + fp32 128×128 scales;
    embeddings, lm_head, norms and routers bf16."""
    spec = memfit.load_model("deepseek-r1")
    pairs = [(t, tensor_role(t)) for t in inventory(spec)]
    fp8 = get_format("fp8-block")
    expected = sum(quantized_tensor_bytes(fp8, t.shape) if role in ("linear", "experts") else t.numel * 2
                   for t, role in pairs)
    assert memfit.memory.weights.weights_bytes(spec, "fp8-block") == expected
    # ≈ 1 byte per parameter: 671 B parameters in 673 GB
    assert 1.0 < expected / memfit.count_parameters(spec).total < 1.01


@pytest.mark.parametrize("bad", ["gptq-5bit", "awq-8bit", "gptq-4bit-g0"])
def test_impossible_quant_settings(bad: str) -> None:
    with pytest.raises(ConfigError):
        get_format(bad)


def test_unknown_name_suggests_and_points_to_cli() -> None:
    with pytest.raises(ConfigError) as e:
        get_format("q4km")
    msg = str(e.value)
    assert "did you mean" in msg and "q4_k_m" in msg and "memfit formats" in msg
    with pytest.raises(ConfigError, match="memfit formats"):
        get_format("zzzz")


def test_every_format_has_a_source_and_resolves_to_itself() -> None:
    fmts = list_formats()
    assert len(fmts) >= 50
    for f in fmts:
        assert f.source, f.name
        assert get_format(f.name) == f
        for alias in f.aliases:
            assert get_format(alias) == f, alias
    assert len({f.name for f in fmts}) == len(fmts)


# ---------------------------------------------------------------------------------------------
# which tensors a format quantizes


def test_roles_of_llama() -> None:
    spec = memfit.load_model("llama-3.1-8b")
    roles = Counter(tensor_role(t) for t in inventory(spec))
    # 32 layers × 7 projections; 32 × 2 norms + final norm
    assert roles == {"linear": 32 * 7, "vector": 32 * 2 + 1, "embedding": 1, "lm_head": 1}


def test_roles_of_moe() -> None:
    spec = memfit.load_model("mixtral-8x7b-v0.1")
    roles = Counter(tensor_role(t) for t in inventory(spec))
    assert roles["router"] == 32 and roles["experts"] == 32 * 3 and roles["linear"] == 32 * 4


# ---------------------------------------------------------------------------------------------
# llama.cpp mixtures: per-tensor rules


def _types_by_kind(model: str, fmt: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for t, type_name in gguf_tensor_types(memfit.load_model(model), get_format(fmt)):
        if not t.is_bias:
            out.setdefault(t.kind, []).append(type_name)
    return out


def test_use_more_bits_layers_q4_k_m() -> None:
    """use_more_bits(i, 32): i < 4, i >= 28, or (i - 4) % 3 == 2 → layers 0-3, 6, 9, …, 27, 28-31 (16 layers)."""
    more = [i for i in range(32) if i < 4 or i >= 28 or (i - 4) % 3 == 2]
    assert more == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    kinds = _types_by_kind("llama-3.1-8b", "q4_k_m")
    assert [i for i, t in enumerate(kinds["attn_v"]) if t == "Q6_K"] == more
    assert [i for i, t in enumerate(kinds["ffn_down"]) if t == "Q6_K"] == more
    assert set(kinds["attn_q"]) == set(kinds["ffn_up"]) == {"Q4_K"}
    assert kinds["output"] == ["Q6_K"] and kinds["token_embd"] == ["Q4_K"]
    assert set(kinds["attn_norm"]) == {"F32"} and kinds["output_norm"] == ["F32"]


def test_q3_k_m_rules() -> None:
    kinds = _types_by_kind("llama-3.1-8b", "q3_k_m")
    assert kinds["attn_v"][:3] == ["Q5_K", "Q5_K", "Q4_K"]  # first two attn_v Q5_K, then Q4_K
    assert kinds["ffn_down"][:3] == ["Q5_K", "Q5_K", "Q4_K"]  # i < 32/16 = 2
    assert set(kinds["attn_output"]) == {"Q4_K"}
    assert set(kinds["attn_q"]) == {"Q3_K"}


def test_q2_k_attn_v_depends_on_gqa() -> None:
    assert set(_types_by_kind("llama-3.1-8b", "q2_k")["attn_v"]) == {"Q4_K"}  # n_gqa = 32/8 = 4
    assert set(_types_by_kind("llama-2-7b-hf", "q2_k")["attn_v"]) == {"Q3_K"}  # MHA: n_gqa = 1


def test_70b_attn_v_bump() -> None:
    """LLM_TYPE_70B: attn_v Q4_K → Q5_K (and Q3_K → Q5_K)."""
    assert set(_types_by_kind("llama-2-70b-hf", "q4_k_s")["attn_v"]) == {"Q5_K"}
    assert set(_types_by_kind("llama-2-70b-hf", "q3_k_s")["attn_v"]) == {"Q5_K"}


def test_eight_expert_moe_rules() -> None:
    kinds = _types_by_kind("mixtral-8x7b-v0.1", "q4_k_m")
    assert set(kinds["attn_v"]) == set(kinds["attn_k"]) == {"Q8_0"}  # n_expert == 8
    assert set(kinds["attn_output"]) == {"Q5_K"}
    assert set(kinds["ffn_gate_inp"]) == {"F32"}  # routers are never quantized
    down = kinds["ffn_down_exps"]  # layer read from the tensor name for MoE
    assert [i for i, t in enumerate(down) if t == "Q6_K"] == [i for i in range(32) if i < 4 or i >= 28
                                                                 or (i - 4) % 3 == 2]


def test_mxfp4_moe_mixture() -> None:
    kinds = _types_by_kind("gpt-oss-20b", "mxfp4_moe")
    assert set(kinds["ffn_gate_exps"]) == set(kinds["ffn_down_exps"]) == {"MXFP4"}
    assert set(kinds["attn_q"]) == {"Q8_0"} and kinds["output"] == ["Q8_0"] and kinds["token_embd"] == ["Q8_0"]
    assert set(kinds["ffn_gate_inp"]) == {"F32"}


def test_fallback_when_rows_do_not_fill_blocks() -> None:
    """qwen2.5-0.5b: hidden 896 = 3.5 × 256, so Q4_K tensors fall back to Q5_0 and Q6_K to Q8_0;
    the tied embedding takes the output rule, and 896 % 256 ≠ 0 sends it to Q8_0."""
    kinds = _types_by_kind("qwen2.5-0.5b-instruct", "q4_k_m")
    assert set(kinds["attn_q"]) == {"Q5_0"}
    assert "Q8_0" in set(kinds["attn_v"])  # use_more_bits layers: Q6_K → Q8_0
    assert kinds["token_embd"] == ["Q8_0"] and "output" not in kinds
    # ffn_down rows are the intermediate size 4864 = 19 × 256: Q4_K stays
    assert "Q4_K" in set(kinds["ffn_down"])


def _tiny(hidden: int) -> ModelSpec:
    attn = AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=hidden // 4)
    layer = LayerSpec(attention=attn, mlp=MLPSpec(intermediate_size=4 * hidden))
    return ModelSpec(name="tiny", family="llama", hidden_size=hidden, vocab_size=1000, layers=(layer, layer))


def test_fallback_to_f16() -> None:
    """Rows of 100 elements fill neither a 256 nor a 32 block: F16 (the last resort)."""
    pairs = gguf_tensor_types(_tiny(100), get_format("q4_k_m"))
    attn_q = [ty for t, ty in pairs if t.kind == "attn_q"]
    assert attn_q == ["F16", "F16"]
    nbytes = memfit.memory.weights.weights_bytes(_tiny(100), "q4_k_m")
    assert nbytes > 0


def test_pure_type_applies_everywhere() -> None:
    kinds = _types_by_kind("llama-3.1-8b", "q4_k-pure")
    assert kinds["output"] == ["Q4_K"] and set(kinds["attn_v"]) == {"Q4_K"}
    assert set(kinds["attn_norm"]) == {"F32"}


def test_every_mixture_runs_on_every_family() -> None:
    """Each named format gives a positive size on a dense, a MoE, an MLA, an SSM and a tied model."""
    models = ["llama-3.1-8b", "qwen3-30b-a3b", "deepseek-v2-lite", "falcon-mamba-7b", "gemma-2-2b", "gpt2"]
    specs = [memfit.load_model(m) for m in models]
    for fmt in list_formats():
        for spec in specs:
            assert memfit.memory.weights.weights_bytes(spec, fmt.name) > 0, (fmt.name, spec.name)


def test_formulas_md_mixture_rows_are_data() -> None:
    """Every mixture of formulas.md §1.6's bpw table is a known format."""
    for name in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "Q2_K_S", "Q2_K", "IQ3_XXS", "IQ3_XS",
                 "IQ3_S", "Q3_K_S", "IQ3_M", "Q3_K_M", "Q3_K_L", "IQ4_XS", "IQ4_NL", "Q4_0", "Q4_1", "Q4_K_S",
                 "Q4_K_M", "Q5_0", "Q5_1", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"):
        assert get_format(name).ftype == name


def test_data_files_have_sources() -> None:
    data = Path(memfit.__file__).parent / "data"
    for fname, table in (("formats.toml", "format"), ("formats.toml", "ggml_type"), ("gguf_mixtures.toml", "ftype")):
        rows = tomllib.loads((data / fname).read_text())[table]
        assert rows and all(str(r.get("source", "")).strip() for r in rows), (fname, table)


def test_formats_cli(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from memfit.cli import main

    main(["formats", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["q4_k_m"]["ftype_id"] == 15 and rows["nf4"]["block"] == 64
    assert "q4_k-pure" not in rows  # pure types only with --pure
    main(["formats", "q8_0", "--model", "llama-3.1-8b", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["q8_0"]["model_bits_per_weight"] == pytest.approx(8.5008, abs=1e-4)
    main(["formats", "nf4"])
    assert "nf4-dq" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "dtype"),
    [("fp32", "float32"), ("float", "float32"), ("torch.float16", "float16"), ("half", "float16"),
     ("BF16", "bfloat16"), ("bfloat16", "bfloat16"), ("nf4", None), ("q4_k_m", None), ("fp8", None),
     ("no-such-format", None)],
)
def test_compute_dtype_spellings(name: str, dtype: str | None) -> None:
    from memfit.formats import COMPUTE_DTYPE_BYTES, compute_dtype

    assert compute_dtype(name) == dtype
    if dtype is not None:
        assert COMPUTE_DTYPE_BYTES[dtype] == {"float32": 4, "float16": 2, "bfloat16": 2}[dtype]
