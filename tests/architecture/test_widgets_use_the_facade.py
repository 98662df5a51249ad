"""Widgets call the facade (``kernelext.api``) and nothing below it.

At run time a widget module may import ``kernelext.api``, ``kernelext.errors``, ``kernelext.events``,
``kernelext.spec``, ``kernelext.strategies``, the venue registry ``kernelext.venues`` and its types
``kernelext.venues.base``; never the ledger, research, sessions or a specific venue's package.
Imports under ``if TYPE_CHECKING:`` (type hints only) are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("kernelext.ledger", "kernelext.research", "kernelext.session")
GENERIC_VENUE_MODULES = frozenset({"kernelext.venues", "kernelext.venues.base"})


def _forbidden(module: str) -> bool:
    if any(module == f or module.startswith(f + ".") for f in FORBIDDEN):
        return True
    return module.startswith("kernelext.venues.") and module not in GENERIC_VENUE_MODULES


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            for stmt in node.body:
                out |= {id(n) for n in ast.walk(stmt)}
    return out


def runtime_imports_below_the_facade(source: str) -> list[tuple[int, str]]:
    """(line, module) of every run-time import of a module below the facade."""
    tree = ast.parse(source)
    hints = _type_checking_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in hints:
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module in ("kernelext", "kernelext.venues"):  # ``from kernelext import ledger``: a package
                modules += [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(node.lineno, m) for m in modules if _forbidden(m)][:1]
    return sorted(found)


def test_the_check_finds_each_kind_of_import() -> None:
    check = runtime_imports_below_the_facade
    assert check("from kernelext.ledger import Ledger") == [(1, "kernelext.ledger")]
    assert check("def f():\n    from kernelext.research import frames") == [(2, "kernelext.research")]
    assert check("import kernelext.session.runner") == [(1, "kernelext.session.runner")]
    assert check("from kernelext import ledger") == [(1, "kernelext.ledger")]
    assert check("from kernelext.venues.ib import compose") == [(1, "kernelext.venues.ib")]
    assert check("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kernelext.ledger import Ledger") == []
    allowed = ("from kernelext import api, venues\nfrom kernelext.venues.base import Venue\n"
               "from kernelext.errors import one_line\nfrom kernelext.spec import SpecError\n"
               "from kernelext.events import now_ns\nfrom kernelext.strategies import registry")
    assert check(allowed) == []


@pytest.mark.parametrize("path", sorted((ROOT / "widgets").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_widgets_import_only_the_facade(path: Path) -> None:
    found = runtime_imports_below_the_facade(path.read_text())
    where = ", ".join(f"{path.relative_to(ROOT)}:{line} imports {module}" for line, module in found)
    assert not found, f"{where}: go through kernelext.api (or the venue registry)"
