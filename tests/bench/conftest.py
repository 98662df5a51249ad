"""Benchmark plumbing: each figure is printed as it is measured and repeated in the summary."""

from __future__ import annotations

from collections.abc import Callable

import pytest

_LINES: list[str] = []


@pytest.fixture
def bench_print() -> Callable[[str], None]:
    """``bench_print(line)``: print one ``BENCH ...`` line now and again in the terminal summary."""

    def emit(line: str) -> None:
        line = f"BENCH {line}"
        _LINES.append(line)
        print(f"\n{line}", flush=True)

    return emit


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LINES:
        terminalreporter.write_sep("=", "benchmark figures")
        for line in _LINES:
            terminalreporter.write_line(line)
