"""Hypothesis strategies for hostile checkpoint headers, and the harness that feeds them to the readers.

Shared by tests/test_fuzz_readers.py (a few hundred examples) and benchmarks/fuzz_readers.py (≥ 10,000).
Inputs: random bytes, valid files (written by the official libraries) with byte-level mutations, and
structured headers (random JSON / random GGUF key-values and tensor infos) that pass the framing and
reach the quantization analysis and the model-description builders.
"""

from __future__ import annotations

import io
import json
import struct
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from memfit.errors import FormatError
from memfit.sources.gguf_reader import _spec, parse_gguf
from memfit.sources.safetensors_reader import DTYPE_BITS, parse_header, spec_with_stored

INTERESTING = [0, 1, 2, 7, 8, 31, 32, 255, 256, 4096, 65_535, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62,
               2**63 - 1, 2**63, 2**64 - 1, 100_000_000, 100_000_001]


# --- harness ----------------------------------------------------------------------------------

def run_safetensors(data: bytes) -> str:
    """Parse ``data`` as a safetensors file and build its description; only FormatError may escape.

    Returns ``accepted`` (a description was built) or ``FormatError``."""
    def read(offset: int, length: int) -> bytes:
        return data[offset: offset + length]

    try:
        header = parse_header(data[:8], read, len(data), "fuzz.safetensors")
        spec_with_stored([header], None, "fuzz", "fuzz")
    except FormatError:
        return "FormatError"
    return "accepted"


def run_gguf(data: bytes) -> str:
    """Parse ``data`` as a GGUF file and build its description; only FormatError may escape."""
    try:
        header = parse_gguf(io.BytesIO(data), len(data), "fuzz.gguf")
        _spec([header], "fuzz", "fuzz")
    except FormatError:
        return "FormatError"
    return "accepted"


# --- seeds: valid files from the official writers ----------------------------------------------

@cache
def safetensors_seeds() -> tuple[bytes, ...]:
    import numpy as np
    from safetensors.numpy import save

    h, v, q = 64, 32, "model.layers.0.self_attn.q_proj"
    seeds = [
        save({"model.embed_tokens.weight": np.zeros((v, h), np.float16), "model.norm.weight": np.zeros(h, np.float32),
              "model.layers.0.self_attn.q_proj.weight": np.zeros((h, h), np.float16),
              "model.layers.0.self_attn.k_proj.weight": np.zeros((16, h), np.float16),
              "model.layers.0.self_attn.v_proj.weight": np.zeros((16, h), np.float16),
              "model.layers.0.mlp.up_proj.weight": np.zeros((8, h), np.float16),
              "model.layers.0.mlp.down_proj.weight": np.zeros((h, 8), np.float16)},
             metadata={"format": "pt"}),
        save({q + ".qweight": np.zeros((8, h), np.int32), q + ".qzeros": np.zeros((2, 8), np.int32),
              q + ".scales": np.zeros((2, h), np.float16), q + ".g_idx": np.zeros(h, np.int32)}),
        save({"e.gate_up_proj_blocks": np.zeros((2, 4, 2, 16), np.uint8),
              "e.gate_up_proj_scales": np.zeros((2, 4, 2), np.uint8),
              "w.weight": np.zeros((32, 1), np.uint8), "w.weight.absmax": np.zeros(1, np.float32),
              "w.weight.quant_state.bitsandbytes__nf4": np.zeros(9, np.uint8), "x.SCB": np.zeros(4, np.float32)}),
    ]
    return tuple(seeds)


@cache
def gguf_seeds() -> tuple[bytes, ...]:
    import gguf
    import numpy as np

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed.gguf"
        w = gguf.GGUFWriter(path, "llama")
        w.add_block_count(1)
        w.add_context_length(128)
        w.add_embedding_length(32)
        w.add_feed_forward_length(64)
        w.add_head_count(2)
        w.add_head_count_kv([1])
        w.add_sliding_window(16)
        w.add_string("general.name", "seed")
        w.add_array("tokenizer.ggml.tokens", ["a", "bb", "ccc"])
        w.add_array("tokenizer.ggml.scores", [0.5, 1.5, 2.5])
        w.add_bool("llama.flag", True)
        w.add_tensor("token_embd.weight", np.zeros((16, 32), np.float16))
        w.add_tensor("output_norm.weight", np.zeros(32, np.float32))
        w.add_tensor("blk.0.attn_q.weight", np.zeros((32, 34), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor("blk.0.attn_k.weight", np.zeros((16, 32), np.float16))
        w.add_tensor("blk.0.attn_v.weight", np.zeros((16, 32), np.float16))
        w.add_tensor("blk.0.ffn_up.weight", np.zeros((64, 18), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_0)
        w.add_tensor("blk.0.ffn_down.weight", np.zeros((32, 64), np.float16))
        w.add_tensor("blk.0.attn_norm.weight", np.zeros(32, np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        out.append(path.read_bytes())
    return tuple(out)


# --- byte-level mutations -----------------------------------------------------------------------

@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        n = len(data)
        hot = min(n, 600)  # most of the header lives in the first few hundred bytes
        pos = draw(st.one_of(st.integers(0, max(0, hot - 1)), st.integers(0, max(0, n - 1))))
        op = draw(st.sampled_from(["flip", "byte", "trunc", "insert", "delete", "u64", "u32"]))
        if op == "flip" and n:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and n:
            data[pos] = draw(st.integers(0, 255))
        elif op == "trunc":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos: pos + draw(st.integers(1, 16))]
        elif op in ("u64", "u32"):
            value = draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1)))
            size = 8 if op == "u64" else 4
            data[pos: pos + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
    return bytes(data)


# --- structured safetensors headers ------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                      st.text(max_size=8))
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), c, max_size=4)),
                          max_leaves=12)
NAMES = ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight",
         "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
         "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
         "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
         "model.layers.0.self_attn.q_norm.weight", "model.layers.1.mlp.gate_proj.weight",
         "x.qweight", "x.qzeros", "x.scales", "x.g_idx", "x.weight_scale_inv", "x.weight", "x.weight.absmax",
         "x.weight.quant_state.bitsandbytes__fp4", "x.SCB", "e.down_proj_blocks", "e.down_proj_scales",
         "y.weight_packed", "y.weight_scale", "y.weight_scale_2", "y.input_scale", "y.weight",
         "__metadata__", ""]


@st.composite
def safetensors_structured(draw: st.DrawFn) -> bytes:
    """A header that is mostly well-formed (contiguous offsets, right sizes) with random twists."""
    entries: dict[str, Any] = {}
    offset = 0
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(st.sampled_from(NAMES), st.text(max_size=12)))
        if draw(st.integers(0, 9)) == 0:
            entries[name] = draw(json_value)
            continue
        dtype = draw(st.one_of(st.sampled_from(sorted(DTYPE_BITS)), st.sampled_from(["F128", "f32", "", "I4"])))
        shape = draw(st.lists(st.one_of(st.integers(0, 70), st.sampled_from(INTERESTING), st.integers(-3, -1)),
                              max_size=draw(st.integers(0, 5))))
        numel = 1
        for d in shape:
            numel *= max(d, 0)
        nbytes = numel * DTYPE_BITS.get(dtype, 8) // 8 if numel < 4096 else draw(st.integers(0, 64))
        start, end = offset, offset + nbytes
        if draw(st.integers(0, 5)) == 0:
            start, end = draw(st.sampled_from(INTERESTING)), draw(st.sampled_from(INTERESTING))
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}
        offset = max(offset, end) if end < 4096 else offset
    if draw(st.booleans()):
        entries["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                  max_size=3), json_value))
    raw = json.dumps(entries).encode()
    raw += b" " * draw(st.integers(0, 7))
    data_len = offset if draw(st.integers(0, 3)) else draw(st.integers(0, offset + 16))
    length = len(raw) if draw(st.integers(0, 7)) else draw(st.sampled_from(INTERESTING))
    return struct.pack("<Q", length) + raw + b"\0" * min(data_len, 1 << 16)


# --- structured GGUF headers -------------------------------------------------------------------

def _gs(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


ARCH_KEYS = ["llama.block_count", "llama.embedding_length", "llama.attention.head_count",
             "llama.attention.head_count_kv", "llama.attention.key_length", "llama.attention.value_length",
             "llama.context_length", "llama.feed_forward_length", "llama.expert_count", "llama.expert_used_count",
             "llama.attention.sliding_window", "llama.attention.kv_lora_rank", "llama.ssm.inner_size",
             "llama.ssm.time_step_rank", "general.alignment", "general.file_type", "split.count"]
GGUF_NAMES = ["token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_q.weight",
              "blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_qkv.weight", "blk.0.attn_q_norm.weight",
              "blk.0.ffn_up.weight", "blk.0.ffn_gate_inp.weight", "blk.0.ffn_up_exps.weight",
              "blk.0.ffn_up_shexp.weight", "blk.0.ssm_in.weight", "blk.0.attn_norm.weight", "blk.1.attn_q.weight",
              "blk.0.attn_kv_a_mqa.weight"]


@st.composite
def gguf_value(draw: st.DrawFn) -> tuple[int, bytes]:
    vtype = draw(st.one_of(st.sampled_from([4, 5, 10, 8, 9, 7, 6]), st.integers(0, 15)))
    if vtype in (0, 1, 7):
        return vtype, draw(st.binary(min_size=1, max_size=1))
    if vtype in (2, 3):
        return vtype, draw(st.binary(min_size=2, max_size=2))
    if vtype in (4, 5, 6):
        return vtype, struct.pack("<I", draw(st.one_of(st.integers(0, 64), st.sampled_from(INTERESTING))) % 2**32)
    if vtype in (10, 11, 12):
        return vtype, struct.pack("<Q", draw(st.one_of(st.integers(0, 64), st.sampled_from(INTERESTING))) % 2**64)
    if vtype == 8:
        return vtype, _gs(draw(st.binary(max_size=12)))
    if vtype == 9:
        etype = draw(st.one_of(st.sampled_from([4, 8, 5]), st.integers(0, 13)))
        items = draw(st.lists(st.integers(0, 40), max_size=6))
        count = len(items) if draw(st.integers(0, 5)) else draw(st.sampled_from(INTERESTING))
        body = b"".join(_gs(b"t" * i) if etype == 8 else struct.pack("<I", i) for i in items)
        return vtype, struct.pack("<IQ", etype, count) + body
    return vtype, draw(st.binary(max_size=8))


@st.composite
def gguf_structured(draw: st.DrawFn) -> bytes:
    kvs = b""
    n_kv = draw(st.integers(0, 8))
    kvs += _gs(b"general.architecture") + struct.pack("<I", 8) + _gs(draw(st.sampled_from([b"llama", b"x", b""])))
    for _ in range(n_kv):
        key = draw(st.one_of(st.sampled_from(ARCH_KEYS), st.text(max_size=10))).encode()
        vtype, value = draw(gguf_value())
        kvs += _gs(key) + struct.pack("<I", vtype) + value
    types = [0, 1, 8, 2, 12, 30, 99]
    infos = b""
    n_t = draw(st.integers(0, 6))
    offset = 0
    for _ in range(n_t):
        name = draw(st.one_of(st.sampled_from(GGUF_NAMES), st.text(max_size=8))).encode()
        dims = draw(st.lists(st.one_of(st.sampled_from([1, 2, 32, 64, 256]), st.sampled_from(INTERESTING)),
                             min_size=0, max_size=5))
        t = draw(st.sampled_from(types))
        infos += _gs(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d % 2**64) for d in dims)
        off = offset if draw(st.integers(0, 4)) else draw(st.sampled_from(INTERESTING)) % 2**64
        infos += struct.pack("<IQ", t, off)
        offset += 256
    counts = (n_t if draw(st.integers(0, 5)) else draw(st.sampled_from(INTERESTING)) % 2**64,
              n_kv + 1 if draw(st.integers(0, 5)) else draw(st.sampled_from(INTERESTING)) % 2**64)
    version = draw(st.sampled_from([3, 3, 3, 2, 1, 4]))
    head = b"GGUF" + struct.pack("<IQQ", version, *counts) + kvs + infos
    head += b"\0" * (-len(head) % 32)
    return head + b"\0" * draw(st.sampled_from([0, 64, offset, offset + 31]))


def safetensors_inputs() -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=512), mutated(safetensors_seeds()), safetensors_structured())


def gguf_inputs() -> st.SearchStrategy[bytes]:
    magic = st.binary(max_size=512).map(lambda b: b"GGUF" + b)
    return st.one_of(magic, mutated(gguf_seeds()), gguf_structured())
