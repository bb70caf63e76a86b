"""The package's rooms and import order, read from its source: docs/figures/architecture.png and
the generated parts of docs/architecture.md.

Run ``python docs/scripts/architecture.py`` to redraw the figure and rewrite the generated blocks of
``docs/architecture.md`` (the room table from the modules' docstrings, the import order, who imports
the libraries outside the standard library). ``tests/test_architecture.py`` checks the same graph
(no cycle, imports inside functions listed) and fails when the document's blocks are not what this
script makes of the code today, so the picture and the tables are always the code's.

The graph: one node per module of ``mgbp_classic`` (each subpackage, such as the network engine
``mgbp_classic.nn.*``, drawn as one node), an edge ``a → b`` when ``a`` imports ``b`` (at the top, or inside a
function: dashed). A module's row is its *level*: 0 for modules that import nothing of the
package, else one more than the highest level it imports. Only the edges that are not implied by
others are drawn (the transitive reduction), so every arrow is a real, direct dependency and every
dependency is a path of arrows.
"""
import ast
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PACKAGE = "mgbp_classic"
OUT = HERE.parent / "figures"


def modules(package_dir=ROOT / PACKAGE):
    """``{module name: (path, is_package)}`` of every module below ``package_dir``."""
    out = {}
    for path in sorted(Path(package_dir).rglob("*.py")):
        parts = list(path.relative_to(Path(package_dir).parent).with_suffix("").parts)
        package = parts[-1] == "__init__"
        if package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, package)
    return out


def _resolve(module, is_package, node, known):
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
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
    rest = [a for a in node.names if f"{target}.{a.name}" not in known]
    return subs + ([target] if rest else [])


def imports(package_dir=ROOT / PACKAGE):
    """Every package import: ``[(module, function or None, imported module, line)]``.

    ``function`` is the (dotted) name of the function the import statement stands in, None at the
    top of the module. Importing a submodule does not count as importing its parent package.
    """
    known = modules(package_dir)
    found = []
    for module, (path, is_package) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

        def visit(node, function):
            for child in ast.iter_child_nodes(node):
                inner = function
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    inner = child.name if function is None else f"{function}.{child.name}"
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _resolve(module, is_package, child, known):
                        found.append((module, function, target, child.lineno))
                visit(child, inner)

        visit(tree, None)
    return found


def cycles(edges):
    """The import cycles: strongly connected components of more than one module, or self-imports."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    index, low, stack, on, out = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
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


def _short(module, packages):
    """The node of ``module``: its name inside the package, or its subpackage's name."""
    name = module[len(PACKAGE) + 1:] if module != PACKAGE else "__init__"
    first = name.split(".")[0]
    return first if f"{PACKAGE}.{first}" in packages else name


def graph(package_dir=ROOT / PACKAGE):
    """``(nodes, edges)`` of the drawn graph: short names, ``{(a, b): inside_function}``."""
    known = modules(package_dir)
    packages = {m for m, (_, is_package) in known.items() if is_package and m != PACKAGE}
    nodes = {_short(m, packages) for m in known}
    edges = {}
    for a, function, b, _ in imports(package_dir):
        a, b = _short(a, packages), _short(b, packages)
        if a != b:
            edges[(a, b)] = edges.get((a, b), True) and function is not None
    return nodes, edges


def levels(nodes, edges):
    """``{node: level}``: 0 imports nothing of the package, else 1 + the highest level imported."""
    below = {n: {b for a, b in edges if a == n} for n in nodes}
    level = {}

    def of(n):
        if n not in level:
            level[n] = 1 + max((of(b) for b in below[n]), default=-1)
        return level[n]

    for n in nodes:
        of(n)
    return level


def reduction(edges):
    """The edges not implied by a longer path (the transitive reduction of the acyclic graph)."""
    below = {}
    for a, b in edges:
        below.setdefault(a, set()).add(b)

    def reach(start, skip):
        seen, todo = set(), [n for n in below.get(start, ()) if n != skip]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo += below.get(n, ())
        return seen

    return {e: inside for e, inside in edges.items() if e[1] not in reach(e[0], e[1])}


def text_list(package_dir=ROOT / PACKAGE):
    """The import order as text: one line per module, bottom first, with what it imports directly."""
    nodes, edges = graph(package_dir)
    level = levels(nodes, edges)
    lines = []
    for n in sorted(nodes, key=lambda n: (level[n], n)):
        uses = sorted(b for a, b in edges if a == n)
        lines.append(f"{level[n]:>2}  {n:<12} " + (", ".join(uses) if uses else "-"))
    return "\n".join(lines)


def _first_line(path):
    """The first line of a module's docstring (its one-line summary)."""
    doc = ast.get_docstring(ast.parse(Path(path).read_text(encoding="utf-8"))) or ""
    return doc.strip().split("\n")[0].strip()


def rooms(package_dir=ROOT / PACKAGE):
    """``[(room, summary, [(module, summary), ...])]``: the rooms of the package, in import order
    (bottom first); a subpackage is one room and lists its modules."""
    known = modules(package_dir)
    packages = {m for m, (_, is_package) in known.items() if is_package and m != PACKAGE}
    nodes, edges = graph(package_dir)
    level = levels(nodes, edges)
    out = []
    for n in sorted(nodes, key=lambda n: (level[n], n)):
        full = f"{PACKAGE}.{n}" if n != "__init__" else PACKAGE
        inside = [(m[len(full) + 1:], _first_line(path)) for m, (path, _) in known.items()
                  if full in packages and m.startswith(full + ".")]
        out.append((n, _first_line(known[full][0]), inside))
    return out


#: Libraries outside the standard library whose importers the document lists.
LIBRARIES = ("numpy", "scipy", "numba", "PIL", "imageio", "matplotlib", "click", "dask", "zarr")


def outside_imports(package_dir=ROOT / PACKAGE):
    """``{library: {room: inside_function}}``: which rooms import each of :data:`LIBRARIES` (at the
    top, or only inside functions)."""
    known = modules(package_dir)
    packages = {m for m, (_, is_package) in known.items() if is_package and m != PACKAGE}
    found = {}
    for module, (path, _) in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def visit(node, function):
            for child in ast.iter_child_nodes(node):
                inner = function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                names = []
                if isinstance(child, ast.Import):
                    names = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom) and not child.level and child.module:
                    names = [child.module]
                for name in names:
                    if name.split(".")[0] in LIBRARIES:
                        room = found.setdefault(name.split(".")[0], {})
                        short = _short(module, packages)
                        room[short] = room.get(short, True) and function
                visit(child, inner)

        visit(tree, False)
    return found


def _table(rows):
    return "\n".join(["| room | what it holds |", "|---|---|", *rows])


def blocks(package_dir=ROOT / PACKAGE):
    """``{name: text}``: the generated blocks of ``docs/architecture.md``."""
    rows = []
    for room, summary, inside in rooms(package_dir):
        if room == "__init__":
            continue
        rows.append(f"| `{room}{'/' if inside else ''}` | {summary} |")
        rows += [f"| &nbsp;&nbsp;`{room}.{m}` | {s} |" for m, s in inside if m != "__init__" and "." not in m]
    libraries = []
    for library in LIBRARIES:
        users = outside_imports(package_dir).get(library, {})
        names = ", ".join(f"`{u}`" + (" (inside a function)" if inner else "") for u, inner in sorted(users.items()))
        libraries.append(f"- `{library}`: {names or 'no room'}")
    return {"rooms": _table(rows), "imports": "```\n" + text_list(package_dir) + "\n```",
            "libraries": "\n".join(libraries)}


def _marks(name):
    return (f"<!-- begin {name}: made by docs/scripts/architecture.py from the code; do not edit -->",
            f"<!-- end {name} -->")


def document_blocks(text):
    """``{name: text}``: the generated blocks as they stand in a document."""
    out = {}
    for name in ("rooms", "imports", "libraries"):
        begin, end = _marks(name)
        if begin in text and end in text:
            out[name] = text.split(begin, 1)[1].split(end, 1)[0].strip("\n")
    return out


def write_document(path=HERE.parent / "architecture.md", package_dir=ROOT / PACKAGE):
    """Rewrite the generated blocks of ``path`` from the code; returns the path."""
    text = Path(path).read_text(encoding="utf-8")
    for name, block in blocks(package_dir).items():
        begin, end = _marks(name)
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + block + "\n" + end + rest.split(end, 1)[1]
    Path(path).write_text(text, encoding="utf-8")
    return path


def make_figures(outdir=OUT, small=False, package_dir=ROOT / PACKAGE):
    """Draw the import order into ``outdir/architecture.png``; returns ``[path]``."""
    nodes, edges = graph(package_dir)
    if cycles(edges):
        raise RuntimeError(f"the package has import cycles: {cycles(edges)}")
    level = levels(nodes, edges)
    rows = {}
    for n in sorted(nodes, key=lambda n: (level[n], n)):
        rows.setdefault(level[n], []).append(n)
    width = max(len(r) for r in rows.values())
    drawn = reduction(edges)
    for _ in range(4):                # order each row by the mean place of its neighbours (fewer crossings)
        for k in sorted(rows)[1:] + sorted(rows)[::-1]:
            place = {n: i / max(1, len(r) - 1) for r in rows.values() for i, n in enumerate(r)}
            near = {n: [place[b] for a, b in drawn if a == n] + [place[a] for a, b in drawn if b == n]
                    for n in rows[k]}
            rows[k].sort(key=lambda n: sum(near[n]) / len(near[n]) if near[n] else place[n])
    pos = {}
    for k, row in rows.items():
        for i, n in enumerate(row):
            pos[n] = ((i + 0.5) * width / len(row) + (0.25 * (k % 2) if len(row) < width else 0), k)
    fig = Figure(figsize=(2.0 + 1.35 * width, 1.2 + 0.95 * len(rows)), dpi=60 if small else 110)
    ax = fig.subplots()
    for (a, b), inside in sorted(drawn.items()):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate("", xy=(x1, y1 + 0.2), xytext=(x0, y0 - 0.2),
                    arrowprops=dict(arrowstyle="-|>", lw=0.8, color="0.45", shrinkA=2, shrinkB=2,
                                    linestyle="--" if inside else "-"))
    for n, (x, y) in pos.items():
        bottom = not any(a == n for a, _ in edges)
        ax.text(x, y, n, ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.3", fc="#e8eef7" if not bottom else "#f4f4f4", ec="0.3", lw=0.8))
    ax.set_xlim(-0.3, width + 0.5)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"level {k}" for k in range(len(rows))], fontsize=8)
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("mgbp_classic: each room imports only rooms below it "
                 "(arrow: a direct import; dashed: inside a function)", fontsize=10)
    fig.tight_layout()
    Path(outdir).mkdir(parents=True, exist_ok=True)
    path = Path(outdir) / "architecture.png"
    fig.savefig(path)
    return [path]


if __name__ == "__main__":
    print("\n".join(str(p) for p in make_figures(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)))
    print(write_document())
