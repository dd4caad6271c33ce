from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CONFIGS = ROOT / "src" / "memfit" / "data" / "models"
GROUNDTRUTH = ROOT / "tests" / "data" / "groundtruth"
# The web tests that check answers, not the time budget, give a request this much wall time: the default budget
# (1.5 s, web/workers.py) is a production guard against heavy requests, and a loaded test machine can exceed it on
# an ordinary request. The budget itself is tested with its own small values (test_web_bounds, test_web_matrix).
WEB_TEST_BUDGET_S = 60.0


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the internet: the Hub is offline unless a test serves a fake one."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for key in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(key, raising=False)


def load_json(path: Path) -> dict[str, object]:
    with path.open() as f:
        data: dict[str, object] = json.load(f)
    return data


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


@pytest.fixture
def no_transformers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """transformers (and torch) not importable; the meta-build, inventory and weights caches emptied around the
    test (``clear_model_caches``)."""
    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    clear_model_caches()
    yield
    clear_model_caches()


def clear_model_caches() -> None:
    """Empty every cache that holds what a spec's tensors gave (builds, inventories, counts, weights, GGUF types)."""
    from memfit.formats.gguf_mixtures import _cached_tensor_types
    from memfit.inventory import _cached_inventory, _count_generic
    from memfit.memory.weights import _cached_breakdown
    from memfit.sources import meta_build

    for c in (meta_build.meta_build, _cached_inventory, _count_generic, _cached_breakdown, _cached_tensor_types):
        c.cache_clear()
