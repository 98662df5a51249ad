"""Strategies' on_save state as stored: encoded, only when it changed, a failing on_save said once."""

from __future__ import annotations

from typing import Any

from kernelext.session.state import StateSaver, decode, encode


class Fake:
    def __init__(self, state: Any) -> None:
        self.state = state

    def on_save(self) -> dict[str, bytes]:
        if isinstance(self.state, Exception):
            raise self.state
        return self.state


def test_round_trip_of_arbitrary_bytes() -> None:
    raw = {"step": b"12.5", "blob": bytes(range(256))}
    assert decode(encode(raw)) == raw


def test_only_changed_states_are_yielded() -> None:
    grid, empty, broken = Fake({"step": b"1"}), Fake({}), Fake(RuntimeError("boom"))
    saver = StateSaver()
    strategies = {"Grid-001": grid, "Empty-001": empty, "Broken-001": broken}
    assert list(saver.changed(strategies)) == [("Grid-001", {"step": "MQ=="})]
    assert list(saver.changed(strategies)) == []  # unchanged: nothing stored again
    grid.state = {"step": b"2"}
    assert list(saver.changed(strategies)) == [("Grid-001", {"step": "Mg=="})]
    saver.seed("Grid-001", {"step": "Mw=="})  # restored with step 3: storing 2 is a change
    assert [sid for sid, _ in saver.changed(strategies)] == ["Grid-001"]
