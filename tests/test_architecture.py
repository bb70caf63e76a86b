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
    ("mgbp_classic.pipeline.upscale", "_REGISTRY"): "the method registry (register_method, register_builtin_methods)",
    ("mgbp_classic.spectral", "_RATE_CACHE"): "bounded memo of predicted rates, keyed by the filters' bytes",
    ("mgbp_classic.color", "_FWD"): "constant table: MATLAB rgb2ycbcr scalings per input class",
    ("mgbp_classic.color", "_INV"): "constant table: MATLAB ycbcr2rgb scalings per input class",
    ("mgbp_classic.resize", "KERNELS"): "constant table: MATLAB kernel name -> (function, support)",
    ("mgbp_classic.resize", "_resize_matrix"): "bounded memo of MATLAB resize matrices (read, never written)",
    ("mgbp_classic.deepfilter", "support_radius"): "memo of a pure function of (levels, mu, layers): an int",
    ("mgbp_classic.imaging.reader", "_PILLOW_LIMIT"): "Pillow's process-wide pixel limit is lifted by one reader at a time",
    ("mgbp_classic.scale_out.cluster", "_WORKQUEUE_LOCK"):
        "worker threads take turns in Numba's kernels when its threading layer is 'workqueue'",
    ("mgbp_classic.scale_out.zarr_images", "_worker_runner"):
        "a worker process's NetRunner per (model, mu, margin): the model read once per process",
    ("mgbp_classic.scale_out.training", "_sampler"): "a worker process's training patches, read once per process",
    ("mgbp_classic.scale_out.training", "_THREAD"):
        "each worker thread's training network (its gradient buffer) and engine",
}

#: Package imports inside functions of the command line (``cli/``): (module, function, imported module) -> why.
CLI_FUNCTION_IMPORTS = {
    ("cli._cluster", "upscale_batch", "mgbp_classic"):
        "mgbp_classic.distributed needs the optional Dask extra: imported only when a cluster is asked for",
    ("cli._cluster", "evaluate_rows", "mgbp_classic"): "the same: the Dask extra, only with --scheduler/--workers",
    ("cli.train", "command", "mgbp_classic.distributed"): "the same: the Dask extra, only with --scheduler/--workers",
    ("cli.convergence", "command", "mgbp_classic.plotting"): "matplotlib loads only when --plot draws a figure",
    ("cli.visualize", "command", "mgbp_classic.plotting"):
        "matplotlib loads when the command runs, not for every command",
    ("cli.explore", "command", "mgbp_classic.explore"):
        "the explorer (HTTP server, matplotlib colour maps) loads when the command runs, not for every command",
    ("cli.explore", "command", "mgbp_classic.explore.compute"): "the same, for its size limit",
    ("cli.explore", "command", "mgbp_classic.pipeline.runner"): "loaded with the explorer that it serves",
}

#: Every argument check, written once, in ``_validate``: the library and the command line call these.
CHECKS = ("check_array", "check_callback", "check_choice", "check_image", "check_int", "check_levels",
          "check_levels_mu", "check_name_length", "check_output_path", "check_pixels", "check_real", "check_scale",
          "check_shape", "check_suffix", "check_threads", "check_tol", "parse_memory")

#: Functions named like checks that are not argument checks, or that only call ``_validate``'s:
#: (module, function) -> what they are.
OTHER_CHECKS = {
    ("mgbp_classic.spectral", "check_kernel_pair"): "the convergence prediction a solver runs before iterating",
    ("mgbp_classic.spectral", "check_mgbp_pair"): "the same for Algorithm 1's levels and µ",
    ("mgbp_classic.pipeline.upscale", "check_method_options"): "the registry's rule: which options a method takes",
    ("mgbp_classic.imaging.reader", "_check_file"): "what a file on disk is (missing, empty, text): an ImageError",
    ("mgbp_classic.deepfilter", "_check_net"): "the network's type",
    ("mgbp_classic.deepfilter", "_check_weights"): "the colour weights of a filter's rows",
    ("mgbp_classic.explore.compute", "Explorer.check_levels_mu"): "the explorer's bounds, through check_int",
    ("mgbp_classic.explore.compute", "Explorer.check_pixel"): "a pixel of the explorer's output",
    ("mgbp_classic.explore.compute", "Explorer.check_mode"): "through check_choice",
    ("mgbp_classic.explore.server", "_Handler._check_request"): "an HTTP request's host, origin and body",
    ("mgbp_classic.nn.modules", "_check_input"): "the engine's layout checks (nn/)",
    ("mgbp_classic.nn.modules", "_check_internal"): "the engine's layout checks (nn/)",
    ("mgbp_classic.resize", "_Resampler._check_origin"): "a filter's origin",
    ("cli.train", "_parse_scales"): "the command line's 2,4,8 syntax",
}

#: Where the name of a method may stand as a string: its own registration (nothing else treats a
#: method by its name), and the explorer page's JSON, whose "net" field is the network's value at a pixel.
NET_LITERAL = {("mgbp_classic.pipeline.upscale", "register_builtin_methods"),
               ("mgbp_classic.explore.compute", "Explorer._describe_row")}

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
CLI = ROOT.parent / "cli"
CLI_MODULES = GRAPH.modules(CLI)
CLI_IMPORTS = GRAPH.imports(CLI)
_cycles = GRAPH.cycles


def test_the_scan_sees_the_package():
    assert {"mgbp_classic.pipeline.upscale", "mgbp_classic.nn.layers", "mgbp_classic.recursion"} <= set(MODULES)
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
        for upper in ("mgbp_classic.pipeline.upscale", "mgbp_classic.convergence", "mgbp_classic.plotting"):
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
            "print(sorted(m for m in ('matplotlib', 'mgbp_classic.pipeline.upscale', 'mgbp_classic.plotting') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["bicubic", "ibp", "mgbp", "net"])
def test_builtin_methods_are_registered_by_upscale_itself(name):
    from mgbp_classic.pipeline import upscale

    assert name in upscale.available_methods()
    assert upscale.register_builtin_methods() == ["bicubic", "ibp", "mgbp", "net"]


def test_the_figure_is_drawn_from_the_imports(tmp_path):
    (path,) = GRAPH.make_figures(tmp_path, small=True)
    assert path.stat().st_size > 1000
    nodes, edges = GRAPH.graph(ROOT)
    level = GRAPH.levels(nodes, edges)
    assert all(level[a] > level[b] for a, b in edges)                 # every import points down
    assert level["recursion"] == 0 and level["pipeline"] > level["multigrid"] > level["spectral"]
    assert level["scale_out"] > level["pipeline"] > level["imaging"] and level["distributed"] > level["scale_out"]
    assert GRAPH.reduction({("a", "b"): False, ("b", "c"): False, ("a", "c"): False}) == {
        ("a", "b"): False, ("b", "c"): False}
    assert "recursion" in GRAPH.text_list(ROOT)


def _functions(path):
    """``{dotted name: node}`` of every function and method in a file (nested ones too)."""
    out = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    out[name] = child
                visit(child, f"{name}.")
            else:
                visit(child, prefix)
    visit(ast.parse(path.read_text(encoding="utf-8")), "")
    return out


ALL_MODULES = {**MODULES, **CLI_MODULES}


def test_the_command_line_imports_inside_functions_only_where_listed():
    assert {m for m in CLI_MODULES} >= {"cli.upscale", "cli._common", "cli.main"}
    inside = {(a, f, b) for a, f, b, _ in CLI_IMPORTS if f is not None}
    assert sorted(inside - set(CLI_FUNCTION_IMPORTS)) == [], "move them to the top or list them with a reason"
    assert sorted(set(CLI_FUNCTION_IMPORTS) - inside) == [], "listed imports that no longer exist"


def test_the_command_line_holds_no_state_and_no_library_logic():
    for module, (path, _) in CLI_MODULES.items():
        assert _module_state(module, path) == [], module
        tree = ast.parse(path.read_text(encoding="utf-8"))
        raised = [n for n in ast.walk(tree) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)
                  and getattr(n.exc.func, "id", None) == "ValueError"]
        assert raised == [], f"{module}: a check of the library's (ParamError from _validate), not the CLI's"


def test_each_check_is_written_once_in_validate():
    defined = {}
    for module, (path, _) in ALL_MODULES.items():
        for name in _functions(path):
            short = name.rsplit(".", 1)[-1].lstrip("_")
            if short.startswith(("check_", "parse_")):
                defined.setdefault(short, []).append((module, name))
    others = {place for places in defined.values() for place in places}
    for check in CHECKS:
        assert ("mgbp_classic._validate", check) in others, f"{check} is not in _validate"
        others.discard(("mgbp_classic._validate", check))
        assert not [p for p in others if p[1] == check], f"{check} is written again outside _validate"
    others -= {("mgbp_classic._validate", "_check_finite")}
    assert sorted(others - set(OTHER_CHECKS)) == [], "a check outside _validate: move it there or list it"
    assert sorted(set(OTHER_CHECKS) - others) == [], "listed checks that no longer exist"


def test_no_code_names_a_method_outside_its_registration():
    found = set()
    for module, (path, _) in ALL_MODULES.items():
        for name, node in _functions(path).items():
            inner = {id(n) for child in ast.iter_child_nodes(node) if isinstance(child, (ast.FunctionDef, ast.ClassDef))
                     for n in ast.walk(child)}
            if any(isinstance(n, ast.Constant) and n.value == "net" and id(n) not in inner for n in ast.walk(node)):
                found.add((module, name))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.ClassDef))
               for n in ast.walk(stmt)]
        if any(isinstance(n, ast.Constant) and n.value == "net" for n in top):
            found.add((module, None))
    assert sorted(found, key=str) == sorted(NET_LITERAL, key=str)


def test_the_document_is_what_the_code_says():
    doc = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    written, made = GRAPH.document_blocks(doc), GRAPH.blocks(ROOT)
    assert set(written) == {"rooms", "imports", "libraries"}, "a generated block is missing from docs/architecture.md"
    for name in made:
        assert written[name] == made[name], f"docs/architecture.md: the {name} block is stale; run docs/scripts/architecture.py"
    rooms = {room for room, _, _ in GRAPH.rooms(ROOT)}
    assert {"imaging", "pipeline", "scale_out", "recursion"} <= rooms and "`imaging.reader`" in written["rooms"]
    users = GRAPH.outside_imports(ROOT)
    assert set(users["matplotlib"]) <= {"plotting", "explore"} and "click" not in users
    assert set(users["dask"]) == set(users["zarr"]) == {"scale_out", "distributed"}


def test_a_stale_document_is_caught(tmp_path):
    doc = (ROOT.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    stale = doc.replace("`imaging.reader`", "`reader`")                # a room's line as the old table had it
    assert GRAPH.document_blocks(stale)["rooms"] != GRAPH.blocks(ROOT)["rooms"]
