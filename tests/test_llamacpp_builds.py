"""--llamacpp-build: the option's choices are the rows of data/llamacpp_builds.toml, each sourced."""

from __future__ import annotations

from memfit.memory.runtimes.llamacpp_builds import graph_generation, graph_generations
from memfit.options import LLAMACPP_BUILDS


def test_choices_are_the_data_rows() -> None:
    assert tuple(graph_generations()) == LLAMACPP_BUILDS
    for gen in graph_generations().values():
        assert gen.source and gen.builds


def test_current_is_the_measured_build_and_2024_predates_the_2025_changes() -> None:
    now, old = graph_generation(None), graph_generation("2024")
    assert now.name == "current" and "b10605" in now.builds
    assert (now.set_rows, now.glu_op, now.embd_input, now.kv_streams) == (True, True, True, True)
    assert (old.set_rows, old.glu_op, old.embd_input, old.kv_streams) == (False, False, False, False)
