"""The package's architecture, read from its source: import order, imports inside functions, module state.

Each module of ``mgbp_classic`` may import only modules below it (no cycle, counting the imports
inside functions too); a package import inside a function is allowed only where listed below with
its reason; module-level mutable state (dicts, lists, sets, ``global`` rebinding) only in the
named registries and constant tables listed below. The imports are read by
``docs/scripts/architecture.py``, which also draws the order for ``docs/architecture.md``.
"""
import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "mgbp_classic"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Package imports inside functions: (module, function, imported module) -> why it is not at the top.
FUNCTION_IMPORTS = {}

#: Module-level mutable state: (module, name) -> what it is and who owns it. Containers, caches
#: (``functools.lru_cache``/``cache``), locks and thread-locals count; a runner's or an engine's own
#: state lives in its instance, not here.
MUTABLE_STATE = {
    ("mgbp_classic.upscale", "_REGISTRY"): "the method registry (register_method, register_builtin_methods)",
    ("mgbp_classic.spectral", "_RATE_CACHE"): "bounded memo of predicted rates, keyed by the filters' bytes",
    ("mgbp_classic.color", "_FWD"): "constant table: MATLAB rgb2ycbcr scalings per input class",
    ("mgbp_classic.color", "_INV"): "constant table: MATLAB ycbcr2rgb scalings per input class",
    ("mgbp_classic.resize", "KERNELS"): "constant table: MATLAB kernel name -> (function, support)",
    ("mgbp_classic.resize", "_resize_matrix"): "bounded memo of MATLAB resize matrices (read, never written)",
    ("mgbp_classic.deepfilter", "support_radius"): "memo of a pure function of (levels, mu, layers): an int",
    ("mgbp_classic.reader", "_PILLOW_LIMIT"): "Pillow's process-wide pixel limit is lifted by one reader at a time",
    ("mgbp_classic.distributed", "_WORKQUEUE_LOCK"):
        "worker threads take turns in Numba's kernels when its threading layer is 'workqueue'",
    ("mgbp_classic.distributed", "_worker_runner"):
        "a worker process's NetRunner per (model, mu, margin): the model read once per process",
    ("mgbp_classic.distributed", "_sampler"): "a worker process's training patches, read once per process",
    ("mgbp_classic.distributed", "_THREAD"): "each worker thread's training network (its gradient buffer) and engine",
}

#: Modules at the bottom: they import nothing of the package.
BOTTOM = ("mgbp_classic._heap", "mgbp_classic._parallel", "mgbp_classic.atomic", "mgbp_classic.exceptions",
          "mgbp_classic.recursion")

_CONTAINER_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter",
                   "Lock", "RLock", "Condition", "Semaphore", "Event", "local"}
_CACHES = {"lru_cache", "cache"}


def _load_graph_script():
    """``docs/scripts/architecture.py``: the parser that also draws the import order."""
    script = Path(__file__).resolve().parents[1] / "docs" / "scripts" / "architecture.py"
    spec = importlib.util.spec_from_file_location("architecture_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRAPH = _load_graph_script()
MODULES = GRAPH.modules(ROOT)
IMPORTS = GRAPH.imports(ROOT)
_cycles = GRAPH.cycles


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
    for node in tree.body:                                            # memoised functions keep what they return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                target = deco.func if isinstance(deco, ast.Call) else deco
                if getattr(target, "id", getattr(target, "attr", None)) in _CACHES:
                    found.append((module, node.name))
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
                    "F = frozenset()\nL = threading.Lock()\nT = threading.local()\n"
                    "@functools.lru_cache(maxsize=2)\ndef g():\n    pass\n@cache\ndef h():\n    pass\n"
                    "def f():\n    global D\n")
    assert _module_state("m", path) == [("m", "A"), ("m", "B"), ("m", "E"), ("m", "L"), ("m", "T"), ("m", "g"),
                                        ("m", "h"), ("m", "global D")]


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


def test_the_figure_is_drawn_from_the_imports(tmp_path):
    (path,) = GRAPH.make_figures(tmp_path, small=True)
    assert path.stat().st_size > 1000
    nodes, edges = GRAPH.graph(ROOT)
    level = GRAPH.levels(nodes, edges)
    assert all(level[a] > level[b] for a, b in edges)                 # every import points down
    assert level["recursion"] == 0 and level["upscale"] > level["multigrid"] > level["spectral"]
    assert GRAPH.reduction({("a", "b"): False, ("b", "c"): False, ("a", "c"): False}) == {
        ("a", "b"): False, ("b", "c"): False}
    assert "recursion" in GRAPH.text_list(ROOT)
