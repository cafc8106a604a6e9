"""House rules a design review checks, measured on the source (ast, radon): no import cycle
(type-only imports counted), no function over 60 lines or of cyclomatic complexity 15 or
more, one meaning per module name, and the scanner's imports running one way."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from radon.complexity import cc_visit

ROOT = Path(__file__).parents[2]
CORE = ROOT / "layers" / "core" / "vaultmail"
DEV = ROOT / "dev" / "vaultmail_dev"
MAX_LINES = 60
MAX_COMPLEXITY = 15  # radon's cyclomatic complexity: a function must stay under it

# Functions allowed past the limits, each with its file and the reason (none today).
ALLOWED: set[tuple[str, str]] = set()


def python_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if ".aws-sam" not in p.parts)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, anywhere in the file (functions and
    ``if TYPE_CHECKING:`` blocks included). ``from . import x`` names the module ``x``."""
    modules = {module_name(root, p): p for p in python_files(root)}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.mark.parametrize("root", [CORE, DEV], ids=["vaultmail", "vaultmail_dev"])
def test_no_import_cycle(root: Path) -> None:
    assert cycles(import_graph(root)) == []


def test_the_cycle_finder_sees_a_type_only_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import B\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n")
    (pkg / "c.py").write_text("from . import a\n")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def functions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for path in python_files(ROOT / "layers", ROOT / "functions"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield str(path.relative_to(ROOT)), node


def test_no_function_over_60_lines() -> None:
    long = [
        f"{where}:{f.lineno} {f.name} ({(f.end_lineno or f.lineno) - f.lineno + 1} lines)"
        for where, f in functions()
        if (f.end_lineno or f.lineno) - f.lineno + 1 > MAX_LINES and (where, f.name) not in ALLOWED
    ]
    assert long == []


def test_no_function_of_complexity_15_or_more() -> None:
    complex_ = []
    for path in python_files(ROOT / "layers", ROOT / "functions"):
        where = str(path.relative_to(ROOT))
        for block in cc_visit(path.read_text()):
            if block.complexity >= MAX_COMPLEXITY and (where, block.name) not in ALLOWED:
                complex_.append(f"{where}:{block.lineno} {block.name} ({block.complexity})")
    assert complex_ == []


def test_no_two_modules_of_the_core_share_a_file_name() -> None:
    """One meaning per name: ``delivery``, ``claims`` ... name one module each (the commands in
    ``cli/``, each named after what it drives, aside)."""
    seen: dict[str, list[str]] = {}
    for path in python_files(CORE):
        if path.name != "__init__.py" and path.parent.name != "cli":
            seen.setdefault(path.stem, []).append(str(path.relative_to(CORE)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}


# The scanner's layers, in import order: a module imports only from layers before its own.
SCANNER_LAYERS = [
    {"plan", "stats"},  # model
    {"tally", "statsmail", "compose", "conclusions"},  # pure: counting, composition, endings
    {"listing", "reading", "passes", "links", "statewrites"},  # adapters (S3, state table)
    {"notify"},  # the sender (SES), and the dry run
    {"steps", "woomera"},  # one decision -> one result
    {"sweep"},  # the loop
    {"core"},  # the Scanner
    {"arrival", "__init__"},  # entry points
]


def test_the_scanner_imports_run_one_way() -> None:
    rank = {name: i for i, layer in enumerate(SCANNER_LAYERS) for name in layer}
    graph = import_graph(CORE)
    scanner = {
        ("__init__" if m == "vaultmail.scanner" else m.rpartition(".")[2]): imported
        for m, imported in graph.items()
        if m.startswith("vaultmail.scanner")
    }
    assert set(scanner) == set(rank), "a scanner module without a layer"
    wrong = [
        f"{mine} -> {target}"
        for mine, imported in scanner.items()
        for target in imported
        if target.startswith("vaultmail.scanner.") and rank[target.rpartition(".")[2]] >= rank[mine]
    ]
    assert wrong == []
