"""Nothing outside ``kernelext/venues/`` and ``widgets/venues/`` names a venue.

Generic code (runner, node builder, telemetry, backtests, spec, CLI, start cards) asks the
venue registry (``kernelext.venues``) instead. The scan reads the code with ``ast``:
docstrings and comments may mention venues; identifiers, string literals that name a venue
or a feed, and imports of a specific venue's package may not.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("kernelext", "widgets")
VENUE_HOMES = (ROOT / "kernelext" / "venues", ROOT / "widgets" / "venues")
GENERIC_VENUE_MODULES = frozenset({"kernelext.venues", "kernelext.venues.base"})

# identifiers (names, attributes, functions, classes, arguments, keywords, import aliases)
IDENTIFIER = re.compile(r"(?i)(^|_)(is_ib|ib_paper|ib_venues?|ib_session|kraken|replay|sandbox|interactive_brokers)(_|$)")
# string literals: a venue or feed name as the whole string, or an unmistakable venue name inside one
WHOLE_STRING = re.compile(r"(?i)^\s*(sandbox|ib|ib-paper|ib_paper|ib paper|kraken|replay|interactive_brokers)\s*$")
IN_STRING = re.compile(r"(?i:ib-paper|ib_paper|kraken|interactive_brokers)|\bREPLAY\b|\bIB PAPER\b")


def _generic_files() -> Iterator[Path]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if not any(path.is_relative_to(home) for home in VENUE_HOMES):
                yield path


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (allowed)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _identifiers(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        yield node.name
    elif isinstance(node, ast.arg):
        yield node.arg
    elif isinstance(node, ast.keyword) and node.arg:
        yield node.arg
    elif isinstance(node, ast.alias):
        yield node.asname or node.name.rsplit(".", 1)[-1]


def _imported_modules(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
        yield node.module
        if node.module in ("kernelext.venues", "widgets.venues"):
            top = ROOT.joinpath(*node.module.split("."))
            for a in node.names:  # a venue's package imported by name, not a registry function
                if (top / a.name).is_dir() or (top / f"{a.name}.py").is_file():
                    yield f"{node.module}.{a.name}"


def _is_specific_venue(module: str) -> bool:
    if module in GENERIC_VENUE_MODULES:
        return False
    return module.startswith(("kernelext.venues.", "widgets.venues.")) or "interactive_brokers" in module \
        or ".adapters.kraken" in module or ".adapters.sandbox" in module


def venue_names_in(path: Path) -> list[str]:
    """``file:line: what`` for every venue name in generic code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        for name in _identifiers(node):
            if IDENTIFIER.search(name):
                found.append(f"{rel}:{line}: identifier {name!r}")
        for module in _imported_modules(node):
            if _is_specific_venue(module):
                found.append(f"{rel}:{line}: imports {module}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if WHOLE_STRING.match(node.value) or IN_STRING.search(node.value):
                found.append(f"{rel}:{line}: string {node.value[:60]!r}")
    return found


def test_scanner_finds_venue_names(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    text = (
        '"""Docstrings may say kraken and ib-paper."""\n'
        "# comments may say IB_VENUES\n"
        "from kernelext.venues.ib import probe\n"
        "from kernelext.venues import base, get\n"
        "from kernelext.venues import registry_function\n"
        "is_ib = spec.venue == 'ib-paper'\n"
        "feed = 'replay'\n"
        "KRAKEN = 1\n"
        "badge = 'REPLAY'\n"
        "ok = 'the replay feed of a venue'\n"
    )
    sample.write_text(text)
    found = [f.split(": ", 1)[1] for f in venue_names_in(sample)]
    assert "imports kernelext.venues.ib" in found
    assert "identifier 'is_ib'" in found and "identifier 'KRAKEN'" in found
    assert "string 'ib-paper'" in found and "string 'replay'" in found and "string 'REPLAY'" in found
    assert not any("Docstrings" in f or "registry_function" in f or "of a venue" in f for f in found)


def test_no_venue_names_outside_venues() -> None:
    found = [hit for path in _generic_files() for hit in venue_names_in(path)]
    assert not found, "venue names outside kernelext/venues and widgets/venues:\n" + "\n".join(found)
