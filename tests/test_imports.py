"""The package's imports run one way: read from every ``import`` statement in ``illusion_torch`` (lazy ones and
``TYPE_CHECKING`` ones included), no module reaches a floor above its own and no modules import each other in a
circle; the package root holds at most eight modules. A package's ``__main__`` is an entry point: it stands with
the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "illusion_torch"

# bottom to top; a module's floor is that of the longest prefix that names it
FLOORS: list[tuple[str, ...]] = [
    ("errors", "units", "interrupt", "files", "runtime.batching"),           # the base: no model, no torch graph
    ("fixed", "fixed.layers", "workload", "data", "metrics"),                # number formats, data, output quality
    ("models",),                                                             # the workloads
    ("partitioning",),                                                       # trace, op table, mappers, rewrite
    ("fixed.quantized", "fixed.ptq"),                                        # fixed point of a traced model
    ("cost.counters", "cost.profile", "cost.work", "cost.steps_as_batch"),   # the work count (a Profile)
    ("runtime",),                                                            # memory images, the chip-by-chip run
    ("cost",),                                                               # pricing: reads a Profile
    ("wear", "deploy", "distributed"),                                       # what runs on the chips
    ("report", "objectives"),                                                # a priced run, its figures
    ("system",),                                                             # partition(): the callable result
    ("checkpoint.files",),                                                   # checkpoint records and weights
    ("pretrained", "train"),                                                 # quantized and trained models
    ("checkpoint", "paper"),                                                 # a name → its model; the paper's runs
    ("cli",),                                                                # the command
    ("",),                                                                   # the package's front door
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package's modules it imports (``from pkg import name`` counts ``pkg.name`` when that is a
    module, else ``pkg``)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".") if package else []
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("illusion_torch"):
                    target = node.module.removeprefix("illusion_torch").lstrip(".")
                else:
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}".lstrip(".")
                    graph[name].add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("illusion_torch"):
                        graph[name].add(alias.name.removeprefix("illusion_torch").lstrip("."))
        graph[name].discard(name)
    return graph


def floor(module: str) -> int:
    if module.rpartition(".")[2] == "__main__":        # an entry point (``python -m``) stands with the command
        return floor("cli")
    best, level = -1, None
    for i, names in enumerate(FLOORS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".") or prefix == "") and len(prefix) > best:
                best, level = len(prefix), i
    assert level is not None, module
    return level


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_a_floor_above_its_own():
    graph = imports(modules())
    upward = sorted(f"{a or 'illusion_torch'} → {b}" for a, bs in graph.items() for b in bs if floor(b) > floor(a))
    assert upward == []


def test_no_import_circles():
    assert circles(imports(modules())) == []


def test_the_checker_sees_a_circle_and_an_upward_import():
    graph = {"fixed": {"cost.work"}, "cost.work": {"fixed"}}
    assert circles(graph) == [["cost.work", "fixed"]]
    assert floor("cost.work") > floor("fixed") and floor("fixed.ptq") > floor("partitioning.trace")


def test_the_package_root_holds_at_most_eight_modules():
    root = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")
    assert len(root) <= 8, root
