"""The package's architecture, read from its source: import order, imports inside functions, module state.

Each module of ``mgbp_classic`` may import only modules below it (no cycle, counting the imports
inside functions too); a package import inside a function is allowed only where listed below with
its reason; module-level mutable state (dicts, lists, sets, ``global`` rebinding) only in the
named registries and constant tables listed below. ``docs/architecture.md`` draws the order.
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "mgbp_classic"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Package imports inside functions: (module, function, imported module) -> why it is not at the top.
FUNCTION_IMPORTS = {
    ("mgbp_classic.upscale", "_net_method", "mgbp_classic.inference"):
        "the network engine (Numba layers, model loading) loads when the net method first runs, so "
        "the classic methods and the command line's help do not pay for it",
}

#: Module-level mutable containers: (module, name) -> what they are.
MUTABLE_STATE = {
    ("mgbp_classic.upscale", "_REGISTRY"): "the method registry (register_method, register_builtin_methods)",
    ("mgbp_classic.spectral", "_RATE_CACHE"): "bounded memo of predicted rates, keyed by the filters' bytes",
    ("mgbp_classic.color", "_FWD"): "constant table: MATLAB rgb2ycbcr scalings per input class",
    ("mgbp_classic.color", "_INV"): "constant table: MATLAB ycbcr2rgb scalings per input class",
    ("mgbp_classic.io", "_MODES"): "constant table: channel count -> PIL mode name",
    ("mgbp_classic.resize", "KERNELS"): "constant table: MATLAB kernel name -> (function, support)",
}

#: Modules at the bottom: they import nothing of the package.
BOTTOM = ("mgbp_classic._validate", "mgbp_classic._parallel", "mgbp_classic.atomic",
          "mgbp_classic.exceptions", "mgbp_classic.recursion")

_CONTAINER_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter"}


def _modules():
    """``{module name: (path, is_package)}`` of every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


MODULES = _modules()


def _resolve(module, is_package, node):
    """The package modules an import statement loads (``from a import b`` is ``a.b`` when b is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != PACKAGE:
        return []
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
    rest = [a for a in node.names if f"{target}.{a.name}" not in MODULES]
    return subs + ([target] if rest else [])


def _imports():
    """``[(module, function or None, imported module, line)]`` over the whole package."""
    found = []
    for module, (path, is_package) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node, function):
            for child in ast.iter_child_nodes(node):
                inner = function
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    inner = child.name if function is None else f"{function}.{child.name}"
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _resolve(module, is_package, child):
                        found.append((module, function, target, child.lineno))
                visit(child, inner)

        visit(tree, None)
    return found


IMPORTS = _imports()


def _cycles(edges):
    """Strongly connected components with more than one module (or a self-import): the cycles."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_scan_sees_the_package():
    assert {"mgbp_classic.upscale", "mgbp_classic.nn.layers", "mgbp_classic.recursion"} <= set(MODULES)
    edges = {(a, b) for a, _, b, _ in IMPORTS}
    assert ("mgbp_classic.multigrid", "mgbp_classic.recursion") in edges
    assert ("mgbp_classic.deepfilter", "mgbp_classic.nn.engine") in edges         # from .nn.engine import Engine
    assert _cycles([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]


def test_no_import_cycle():
    edges = {(a, b) for a, _, b, _ in IMPORTS if a != b}
    assert _cycles(edges) == [], "import cycle(s), counting imports inside functions"


def test_package_imports_inside_functions_are_listed():
    inside = {(a, f, b) for a, f, b, _ in IMPORTS if f is not None}
    unlisted = sorted(inside - set(FUNCTION_IMPORTS))
    assert unlisted == [], "package imports inside functions: move them to the top or list them with a reason"
    stale = sorted(set(FUNCTION_IMPORTS) - inside)
    assert stale == [], "listed imports that no longer exist: remove them from FUNCTION_IMPORTS"


def test_bottom_modules_import_nothing_of_the_package():
    for module in BOTTOM:
        assert [b for a, _, b, _ in IMPORTS if a == module] == [], module


def test_solvers_do_not_depend_on_the_dispatcher_or_each_other():
    edges = {(a, b) for a, _, b, _ in IMPORTS}
    for solver in ("mgbp_classic.ibp", "mgbp_classic.multigrid", "mgbp_classic.spectral"):
        for upper in ("mgbp_classic.upscale", "mgbp_classic.convergence", "mgbp_classic.plotting"):
            assert (solver, upper) not in edges
    assert ("mgbp_classic.multigrid", "mgbp_classic.ibp") not in edges
    assert ("mgbp_classic.ibp", "mgbp_classic.multigrid") not in edges


def _module_state(module, path):
    """Module-level containers, instances of the module's own classes, and ``global`` statements."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    found = []
    for node in tree.body:
        targets, value = [], None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        mutable = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
            isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", None))
            in _CONTAINER_CALLS | classes)
        for target in targets:
            if mutable and isinstance(target, ast.Name) and target.id != "__all__":
                found.append((module, target.id))
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            found += [(module, f"global {name}") for name in node.names]
    return found


def test_no_module_level_mutable_state_outside_the_listed_registries():
    found = [entry for module, (path, _) in MODULES.items() for entry in _module_state(module, path)]
    assert sorted(set(found) - set(MUTABLE_STATE)) == [], "module-level mutable state"
    assert sorted(set(MUTABLE_STATE) - set(found)) == [], "listed state that no longer exists"


def test_the_scan_finds_state_and_globals(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("A = {}\nB = dict()\n__all__ = ['x']\nC = (1, 2)\nclass S:\n    pass\nE = S()\n"
                    "F = frozenset()\ndef f():\n    global D\n")
    assert _module_state("m", path) == [("m", "A"), ("m", "B"), ("m", "E"), ("m", "global D")]


def test_importing_core_modules_loads_no_plotting_and_registers_nothing():
    code = ("import sys\n"
            "import mgbp_classic.convergence, mgbp_classic.deepfilter, mgbp_classic.inference, mgbp_classic.train\n"
            "print(sorted(m for m in ('matplotlib', 'mgbp_classic.upscale', 'mgbp_classic.plotting') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["bicubic", "ibp", "mgbp", "net"])
def test_builtin_methods_are_registered_by_upscale_itself(name):
    from mgbp_classic import upscale

    assert name in upscale.available_methods()
    assert upscale.register_builtin_methods() == ["bicubic", "ibp", "mgbp", "net"]
