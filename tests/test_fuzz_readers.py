"""Fuzzing both header parsers: only memfit's FormatError comes out, fast, with small allocations.

A modest number of examples here; benchmarks/fuzz_readers.py runs ≥ 10,000 inputs per parser.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable

import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("gguf")
pytest.importorskip("safetensors")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _fuzz_inputs import gguf_inputs, json_value, run_gguf, run_safetensors, safetensors_inputs

FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_SECONDS = 1.0  # per input: a parser that loops on a hostile length would blow far past this
MAX_ALLOC = 8 * 1024 * 1024  # per input, beyond the input itself


def _bounded(run: Callable[[bytes], str], data: bytes) -> None:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        run(data)  # anything but FormatError propagates and fails the test
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"{elapsed:.2f} s on a {len(data)}-byte input"
    assert peak < MAX_ALLOC + 2 * len(data), f"{peak:,} bytes allocated for a {len(data)}-byte input"


@FUZZ
@given(safetensors_inputs())
def test_fuzz_safetensors(data: bytes) -> None:
    _bounded(run_safetensors, data)


@FUZZ
@given(gguf_inputs())
def test_fuzz_gguf(data: bytes) -> None:
    _bounded(run_gguf, data)


def test_claimed_huge_arrays_and_counts_are_rejected_without_work() -> None:
    import struct

    def s(b: bytes) -> bytes:
        return struct.pack("<Q", len(b)) + b

    # 2**40 strings claimed by a 60-byte file; 2**62-long string; 2**50 tensors
    cases = [
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s(b"k") + struct.pack("<IIQ", 9, 8, 2**40),
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s(b"k") + struct.pack("<IQ", 8, 2**62),
        b"GGUF" + struct.pack("<IQQ", 3, 2**50, 0),
    ]
    for data in cases:
        _bounded(run_gguf, data)
    _bounded(run_safetensors, struct.pack("<Q", 99_999_999) + b"{}")


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_value.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.text(max_size=8), json_value, max_size=3).map(
                     lambda d: json.dumps({"weight_map": d}).encode())))
def test_fuzz_index_json(data: bytes) -> None:
    from memfit.errors import FormatError
    from memfit.sources.safetensors_reader import index_shards

    try:
        files = index_shards(data, "model.safetensors.index.json")
    except FormatError:
        return
    assert all(f.endswith(".safetensors") and "/" not in f for f in files)
