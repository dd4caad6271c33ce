"""The shape of src/memfit: its import graph has no circles and no import runs from a lower layer to a higher one.

The graph is read from the source with ``ast`` (every ``import``, also those inside functions: a lazy import
that closes a circle is still a circle). See docs/architecture.md for what each layer owns.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "memfit"

# Lowest first. A module may import from its own layer and from the layers below it, never from above.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("memfit.errors", "memfit.units", "memfit.spec", "memfit.options", "memfit.workload")),
    ("model", ("memfit.inventory", "memfit.inventory_dsv4", "memfit.formats", "memfit.quant_detect", "memfit.result",
               "memfit.hardware",
               "memfit.detect", "memfit.rules")),
    ("sources", ("memfit.sources",)),
    ("memory", ("memfit.memory",)),
    ("estimate", ("memfit.estimate", "memfit.estimate_bare", "memfit.validate", "memfit.serving_cases")),
    ("verdicts", ("memfit.fit", "memfit.plan", "memfit.plan_floor", "memfit.plan_qlora", "memfit.plan_search",
                  "memfit.whatfits",
                  "memfit.levers", "memfit.matrix", "memfit.device_map", "memfit.advisor",
                  "memfit.speed", "memfit.plot")),
    ("interfaces", ("memfit.cli", "memfit.web", "memfit.__main__", "memfit")),
)


def modules(src: Path = SRC) -> dict[str, Path]:
    """Dotted module name → file, packages by their ``__init__``."""
    out = {}
    for p in src.rglob("*.py"):
        parts = list(p.relative_to(src.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module → the memfit modules it imports (``from pkg import sub`` counts as importing ``pkg.sub``)."""
    mods = modules(src)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets |= {f"{mod}.{a.name}" if f"{mod}.{a.name}" in mods else mod for a in node.names}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def layer_of(module: str) -> int:
    """The index of the layer whose longest matching prefix names ``module`` (-1: none). The root package
    ``memfit`` (the public API's facade) names itself only."""
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or (module.startswith(p + ".") and p != "memfit")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_circle_and_an_upward_import() -> None:
    """The two checks below can fail: a made-up graph with a circle and an upward import trips them."""
    g = {"memfit.memory.a": {"memfit.memory.b"}, "memfit.memory.b": {"memfit.memory.a"},
         "memfit.spec": {"memfit.fit"}, "memfit.fit": set()}
    assert cycles(g) == [["memfit.memory.a", "memfit.memory.b"]]
    assert layer_of("memfit.spec") < layer_of("memfit.fit")
    assert layer_of("memfit.memory.training.parallel") == 3 and layer_of("memfit") == 6
    assert layer_of("memfit.new_module") == -1  # an unplaced module is reported, not silently put on top


def test_graph_is_read_from_the_source() -> None:
    g = import_graph()
    assert "memfit.memory.inference" in g["memfit.estimate"]  # a lazy import inside a function counts
    assert "memfit.memory.training.states" in g["memfit.memory.training.step"]


def test_no_import_circles() -> None:
    assert cycles(import_graph()) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in import_graph() if layer_of(m) < 0] == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
                    for m, targets in import_graph().items() for t in targets if layer_of(t) > layer_of(m))
    assert upward == []
