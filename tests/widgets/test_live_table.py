"""LiveTable: newest first, new rows streamed and changed cells patched (never the whole table)."""

from __future__ import annotations

from typing import Any

import pytest

from widgets.ui.live_table import LiveTable


class _Sent:
    """What the table's widget was asked to send: streams, patches, whole values."""

    def __init__(self, table: LiveTable, monkeypatch: pytest.MonkeyPatch) -> None:
        self.streams: list[int] = []
        self.patches: list[dict[str, Any]] = []
        widget = table.widget
        stream, patch = widget._stream, widget._patch

        def on_stream(data: dict, rollover: int | None = None, follow: bool = True) -> None:
            self.streams.append(len(next(iter(data.values()))))
            stream(data, rollover, follow)

        def on_patch(data: dict) -> None:
            self.patches.append(data)
            patch(data)

        monkeypatch.setattr(widget, "_stream", on_stream)
        monkeypatch.setattr(widget, "_patch", on_patch)


def test_rows_stream_newest_first_and_roll_over(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LiveTable(["n"], max_rows=3)
    sent = _Sent(table, monkeypatch)
    table.load([{"n": 1}, {"n": 2}])
    for n in (3, 4):
        table.put({"n": n})
    table.flush()
    assert list(table.value["n"]) == [4, 3, 2] and len(table) == 3
    assert sent.streams == [2]  # the two new rows only
    table.flush()
    assert sent.streams == [2]  # nothing put: nothing sent
    assert table.widget.sorters == [{"field": "_rank", "dir": "desc"}] and "_rank" in table.widget.hidden_columns


def test_a_keyed_row_is_patched_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LiveTable(["id", "status", "px"], max_rows=10, key="id")
    sent = _Sent(table, monkeypatch)
    table.load([{"id": "A", "status": "SUBMITTED", "px": None}, {"id": "B", "status": "SUBMITTED", "px": 1.0}])
    table.put({"id": "A", "status": "FILLED", "px": None})
    table.put({"id": "C", "status": "SUBMITTED", "px": 2.0})
    table.put({"id": "C", "status": "ACCEPTED", "px": 2.0})  # not sent yet: goes out as one new row
    table.flush()
    assert list(table.value["id"]) == ["C", "B", "A"]  # an update keeps the row's place
    assert list(table.value["status"]) == ["ACCEPTED", "SUBMITTED", "FILLED"]
    assert sent.streams == [1]
    assert [sorted(p) for p in sent.patches] == [["status"]]  # the changed cell only
    assert table.get("A")["status"] == "FILLED"


def test_a_ranked_table_sorts_by_its_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LiveTable(["id", "open"], max_rows=10, key="id", rank=lambda r: (10 if r["open"] else 0) + r["seq"])
    table.load([{"id": "A", "open": True, "seq": 1}, {"id": "B", "open": True, "seq": 2}])
    table.put({"id": "A", "open": True, "seq": 3})
    table.put({"id": "B", "open": False, "seq": 4})
    table.flush()
    assert list(table.value["id"]) == ["A", "B"]
    assert list(table.value.columns) == ["id", "open"]


def test_column_types_are_fixed_from_the_start() -> None:
    from bokeh.document import Document

    table = LiveTable(["text", "num"], max_rows=5, numbers=["num"])
    model = table.widget.get_root(Document())  # a page shown while the table is empty
    table.put({"text": "BUY", "num": 1.5})
    table.put({"text": None, "num": None})
    table.flush()
    formatters = {c.field: c.formatter["type"] for c in model.columns}  # as Tabulator gets them
    assert formatters["text"] == "StringFormatter" and formatters["num"] == "NumberFormatter"
    assert [str(t) for t in table.widget.value.dtypes] == ["object", "float64", "float64"]
    assert list(table.value["text"]) == [None, "BUY"]


def test_a_notebook_table_is_sent_whole_in_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    table = LiveTable(["id", "s"], max_rows=3, key="id")
    table.incremental = False  # as a dashboard shown in a notebook sets it
    sent = _Sent(table, monkeypatch)
    table.load([{"id": "A", "s": "new"}, {"id": "B", "s": "new"}])
    table.put({"id": "A", "s": "done"})
    table.put({"id": "C", "s": "new"})
    table.put({"id": "D", "s": "new"})
    assert table.flush() and not table.flush()
    assert sent.streams == [] and sent.patches == []
    assert list(table.value["id"]) == ["D", "C", "B"]  # A rolled over
    table.put({"id": "C", "s": "done"})
    table.flush()
    assert list(table.value["s"]) == ["new", "done", "new"] and table.get("C")["s"] == "done"
