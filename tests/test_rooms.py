"""The rooms of ARCHITECTURE (README's map): what may import what.

- `sources/` and `activations/` are plain Python: no Dagster anywhere in them.
- No import cycle among the project's modules. A module importing `a.b.c` also runs the package
  files `a/__init__.py` and `a/b/__init__.py`, so those count as edges too; imports inside
  functions count as well (a lazy import hides a cycle, it does not remove it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("sources", "activations", "crmloop", "orchestration")
PLAIN_ROOMS = ("sources", "activations")


def _modules() -> dict[str, Path]:
    mods = {}
    for room in ROOMS:
        for path in (REPO / room).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def _imported(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                dep = ".".join(parts[:k])
                # a module's own parent packages are already running when it is imported
                if dep in mods and dep != mod and not mod.startswith(dep + "."):
                    graph[mod].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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


def test_cycle_finder_finds_a_cycle_through_a_package_file():
    graph = {"a": {"a.x"}, "a.x": set(), "b.y": {"a"}, "a.z": {"b.y"}}
    assert _cycles(graph) == []
    graph["a"].add("a.z")  # a/__init__ imports a.z, which imports b.y, which imports a
    assert _cycles(graph) == [["a", "a.z", "b.y"]]


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_sources_and_activations_never_import_dagster():
    offenders = []
    for room in PLAIN_ROOMS:
        for path in (REPO / room).rglob("*.py"):
            names = _imported(ast.parse(path.read_text(encoding="utf-8")))
            if any(n == "dagster" or n.startswith(("dagster.", "dagster_")) for n in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


_WRITES_MARTS = re.compile(
    r"\b(CREATE\s+(OR\s+REPLACE\s+)?(TABLE|VIEW|SCHEMA)(\s+IF\s+NOT\s+EXISTS)?|INSERT\s+INTO|DROP\s+TABLE(\s+IF\s+EXISTS)?|"
    r"DELETE\s+FROM|UPDATE|ALTER\s+TABLE)\s+\"?marts\b",
    re.IGNORECASE,
)


def test_the_marts_writer_finder_finds_a_write():
    assert _WRITES_MARTS.search('con.execute("CREATE TABLE IF NOT EXISTS marts.campaign_audiences (a INT)")')
    assert _WRITES_MARTS.search("insert into marts.x select 1")
    assert not _WRITES_MARTS.search("SELECT * FROM marts.customer_profiles")


def test_python_never_writes_dbt_marts():
    """dbt owns the `marts` schema; Python writes its own (`activations`, the lake) and reads marts."""
    offenders = []
    for room in ROOMS:
        for path in (REPO / room).rglob("*.py"):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if _WRITES_MARTS.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{n}")
    assert offenders == []


# ----------------------------------------------------------------------------- one lake writer
# The lake has one writer: the ingestion code (sources/ingest.py), which checks every row against a
# declaration and quarantines what fails (the campaign state too: its step writes files of its own
# and ingests them). A function elsewhere that writes Parquet while it handles a lake path is a
# second writer. Static and by function: a heuristic, not a proof (the behaviour is tested in
# tests/campaigns/test_campaign_state_ingest.py).
LAKE_WRITER = "sources/ingest.py"
_PARQUET_WRITERS = {"write_table", "ParquetWriter", "to_parquet", "write_parquet", "write_dataset"}
_LAKE_NAME = re.compile(r"(^|_)lake($|_)", re.IGNORECASE)


def _lake_writers(tree: ast.AST) -> list[str]:
    """Functions of a module that call a Parquet writer and name a lake path (a name, attribute,
    argument or string that is `lake` or has it as a `_`-separated word)."""
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        writes = lake = False
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                writes |= name in _PARQUET_WRITERS
            if isinstance(node, ast.Name | ast.arg | ast.Attribute):
                ident = (
                    node.id
                    if isinstance(node, ast.Name)
                    else node.arg
                    if isinstance(node, ast.arg)
                    else node.attr
                )
                lake |= bool(_LAKE_NAME.search(ident))
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                lake |= any(_LAKE_NAME.search(part) for part in re.split(r"[/\\\s]", node.value))
        if writes and lake:
            found.append(fn.name)
    return found


def test_the_lake_writer_finder_finds_a_writer():
    two_writers = (
        "def f(lake_dir, t):\n    pq.write_table(t, lake_dir / 'x.parquet')\n"
        "def g(home, t):\n    t.to_parquet(home / 'lake' / 'x.parquet')\n"
        "def h(snapshots_dir, t):\n    pq.write_table(t, snapshots_dir / 'x.parquet')\n"
    )
    assert _lake_writers(ast.parse(two_writers)) == ["f", "g"]


def test_only_the_ingestion_code_writes_parquet_into_the_lake():
    offenders = []
    for room in ROOMS:
        for path in (REPO / room).rglob("*.py"):
            rel = path.relative_to(REPO).as_posix()
            if rel == LAKE_WRITER:
                continue
            offenders += [f"{rel}:{fn}" for fn in _lake_writers(ast.parse(path.read_text(encoding="utf-8")))]
    assert offenders == []
