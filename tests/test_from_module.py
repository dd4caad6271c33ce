"""memfit.from_module: exact parameters and bytes of a live torch module, tied weights once."""

from __future__ import annotations

import subprocess
import sys

import pytest

import memfit
from _checkpoint_files import TINY_CONFIG, TINY_PARAMS
from memfit.errors import ConfigError

torch = pytest.importorskip("torch")
nn = torch.nn


class TiedLM(nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)  # 1,600
        self.proj = nn.Linear(16, 16)  # 256 + 16
        self.head = nn.Linear(16, 100, bias=False)
        self.head.weight = self.embed.weight  # tied: the same Parameter


def test_tied_weights_count_once() -> None:
    spec = memfit.from_module(TiedLM())
    assert spec.is_bare
    s = spec.stored
    assert s is not None and s.container == "torch"
    assert s.logical_parameters == 1600 + 256 + 16 == memfit.count_parameters(spec).total
    assert s.stored_bytes == 4 * (1600 + 272)
    assert s.bytes_by_dtype == (("float32", 1872, 7488),)
    assert s.tensors == 3


def test_shared_storage_counts_once_and_dtypes_are_split() -> None:
    m = TiedLM()
    m.head.weight = nn.Parameter(m.embed.weight.data)  # another Parameter object, same memory
    m.proj.to(torch.bfloat16)
    s = memfit.from_module(m).stored
    assert s is not None
    assert s.logical_parameters == 1872
    assert dict((d, (e, b)) for d, e, b in s.bytes_by_dtype) == {"float32": (1600, 6400), "bfloat16": (272, 544)}


def test_meta_transformers_model_uses_its_config() -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(**{k: v for k, v in TINY_CONFIG.items() if k != "model_type"})
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg).to(torch.bfloat16)
    spec = memfit.from_module(model, name="tiny")
    assert not spec.is_bare and spec.num_layers == 2 and spec.family == "llama"
    assert spec.stored is not None
    assert spec.stored.logical_parameters == TINY_PARAMS == memfit.count_parameters(spec).total
    assert spec.stored.stored_bytes == 2 * TINY_PARAMS
    tied = transformers.LlamaConfig(**{k: v for k, v in TINY_CONFIG.items() if k != "model_type"
                                       and k != "tie_word_embeddings"}, tie_word_embeddings=True)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(tied)
    s = memfit.from_module(model).stored
    assert s is not None and s.logical_parameters == TINY_PARAMS - 128 * 64


def test_not_a_module() -> None:
    with pytest.raises(ConfigError, match=r"nn\.Module"):
        memfit.from_module([1, 2, 3])


def test_import_memfit_does_not_import_torch() -> None:
    code = "import sys, memfit; memfit.from_module; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
