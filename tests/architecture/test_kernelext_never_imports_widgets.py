"""The house rule: ``kernelext`` never imports ``widgets`` (not even lazily); widgets register
their views through the ``paperlab.views`` entry point instead."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def widgets_imports(source: str) -> list[int]:
    """Lines of ``source`` that import widgets (import statements, or import_module/__import__ calls)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")):
            names = [node.args[0].value]
        else:
            continue
        if any(n == "widgets" or n.startswith("widgets.") for n in names):
            found.append(node.lineno)
    return found


def test_the_check_finds_each_kind_of_import() -> None:
    assert widgets_imports("import widgets.app") == [1]
    assert widgets_imports("def f():\n    from widgets.dashboard import SessionDashboard") == [2]
    assert widgets_imports("import importlib\nimportlib.import_module('widgets.views')") == [2]
    assert widgets_imports("from kernelext import api\nimport widgetsnbextension") == []


@pytest.mark.parametrize("path", sorted((ROOT / "kernelext").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_kernelext_module_imports_widgets(path: Path) -> None:
    lines = widgets_imports(path.read_text())
    assert not lines, f"{path.relative_to(ROOT)} imports widgets at line(s) {lines}"


def test_widgets_views_are_found_through_the_entry_point() -> None:
    from kernelext.surfaces import views

    assert {kind: views.get(kind) is not None for kind in views.KINDS} == {kind: True for kind in views.KINDS}
