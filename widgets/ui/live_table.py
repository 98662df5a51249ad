"""LiveTable: a read-only Tabulator shown newest first and changed row by row.

    table = LiveTable(["time", "side", "qty"], max_rows=500, css="paperlab-fills")
    table.load(rows)          # the history, oldest first: the whole table at once
    table.put(row)            # a new row (or, keyed, a known row's new values)
    table.flush()             # send what was put: one patch of the changed cells, one stream of new rows

New rows are streamed (``Tabulator.stream``: appended, the oldest rolled over past ``max_rows``)
and changed rows patched (``Tabulator.patch``: only the cells that changed), so an update sends
those rows over the websocket, never the table. The page sorts the table itself, descending by a
hidden rank column: a row's arrival (a counter), so the newest row is on top, or for a table given
``rank`` that function of the row, e.g. open positions first, the latest updated first. A user's
click on a header sorts by that column, as in any Tabulator.

A keyed table (``key``: a column) updates a row in place when a row with a known key comes again.
``value`` is the table as the page shows it (newest first); ``widget`` is the Tabulator.

In a notebook (Panel 1.10 over the Jupyter comm) streams and patches to several Tabulators make the
page apply some of them more than once, or lose them (reproduced in JupyterLab with two plain
Tabulators; a served page is fine), so a table shown there sets ``incremental = False``: each flush
sends the table whole, as replacing it always did (idempotent), still only when something changed.

Column types are fixed when the table is made (``numbers``: float columns, the rest text), because
Tabulator keeps the formatters and sorters of the columns the page first got: a table first shown
empty would otherwise format later text as numbers (NaN) or sort numbers as text.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
import panel as pn

RANK = "_rank"  # the hidden sort column (higher first)
Row = dict[str, Any]


class _PatchedTabulator(pn.widgets.Tabulator):
    """A Tabulator whose patches stay patches when it is sorted.

    Panel resends the whole table on a patch whenever ``sorters`` are set (its rows could be in
    another order than the page's). These tables are sorted by the page only (no filters, no
    pagination): the data keeps its order, so a patch applies as it is.
    """

    def _patch(self, patch: dict[str, Any]) -> None:
        if self.filters or self._filters or self.pagination:
            super()._patch(patch)
        else:
            super(pn.widgets.Tabulator, self)._patch(patch)


def _same(a: Any, b: Any) -> bool:
    """Cell equality with None and NaN alike."""
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    return missing_a == missing_b and (missing_a or a == b)


class LiveTable(pn.viewable.Viewer):
    """A bounded table fed incrementally; newest first on the page."""

    def __init__(self, columns: list[str], *, max_rows: int, key: str | None = None,
                 rank: Callable[[Row], float] | None = None, numbers: Iterable[str] = (), height: int = 280,
                 css: str = "") -> None:
        """``columns`` shown, at most ``max_rows`` kept; ``key``: the column that identifies a row;
        ``rank``: a row's sort value (higher first) instead of its arrival; ``numbers``: the columns
        holding numbers (None shown as "-")."""
        super().__init__()
        self.columns, self.max_rows, self.key, self.rank = columns, max_rows, key, rank
        self._data_columns = [*columns, RANK]
        self._floats = {*numbers, RANK}
        self.widget = _PatchedTabulator(
            self._frame([]), show_index=False, disabled=True,
            layout="fit_data_table", height=height, sizing_mode="stretch_width",
            css_classes=[css] if css else [], sorters=[{"field": RANK, "dir": "desc"}], hidden_columns=[RANK],
        )
        self._labels: OrderedDict[Any, Any] = OrderedDict()  # row key -> index label, in data order
        self._arrival: dict[Any, int] = {}  # row key -> its arrival (the default rank)
        self._rows: dict[Any, Row] = {}  # row key -> the row as shown
        self._new: OrderedDict[Any, Row] = OrderedDict()  # put, not yet streamed
        self._changed: dict[Any, Row] = {}  # put for a shown row, not yet patched
        self._serial = 0
        self.incremental = True  # new rows streamed, changed cells patched; False: the whole table each flush

    def __panel__(self) -> pn.widgets.Tabulator:
        return self.widget

    def __len__(self) -> int:
        return len(self.widget.value)

    @property
    def value(self) -> pd.DataFrame:
        """The rows as the page shows them: newest first (a ranked table: highest rank first)."""
        return self.widget.value.sort_values(RANK, ascending=False, kind="stable").drop(columns=[RANK])

    def get(self, key: Any) -> Row | None:
        """The latest row put for ``key`` (keyed tables), None when there is none."""
        return self._new.get(key) or self._changed.get(key) or self._rows.get(key)

    # -- input ---------------------------------------------------------------------------------
    def load(self, rows: list[Row]) -> None:
        """Replace everything with ``rows`` (oldest first; the last ``max_rows`` are kept)."""
        rows = rows[-self.max_rows:] if self.max_rows else []
        for pending in (self._new, self._changed, self._labels, self._arrival, self._rows):
            pending.clear()
        keys = [self._arrive(row) for row in rows]
        frame = self._frame([self._data(k, r) for k, r in zip(keys, rows, strict=True)])
        self.widget.value = frame
        for key, row, label in zip(keys, rows, frame.index, strict=True):
            self._labels[key], self._rows[key] = label, row

    def put(self, row: Row) -> None:
        """A new row, or (keyed) the new values of a row put before; shown at the next ``flush``."""
        key = row[self.key] if self.key is not None else None
        if key is not None and key in self._new:
            self._new[key] = row
        elif key is not None and key in self._rows:
            self._changed[key] = row
        else:
            self._new[self._arrive(row)] = row

    def _arrive(self, row: Row) -> Any:
        """A new row's key (its ``key`` column, else a serial), its arrival counted."""
        self._serial += 1
        key = row[self.key] if self.key is not None else ("row", self._serial)
        self._arrival[key] = self._serial
        return key

    # -- output --------------------------------------------------------------------------------
    def flush(self) -> bool:
        """Send what was put since the last flush: the changed cells as one patch, then the new rows as
        one stream (the oldest rolled over); True when there was anything."""
        sent = bool(self._changed or self._new)
        if sent and not self.incremental:
            self._replace()
            return True
        if self._changed:
            self._patch()
        if self._new:
            self._stream()
        return sent

    def _replace(self) -> None:
        """The whole table again, with what was put (a notebook: see the module's note)."""
        for key, row in self._changed.items():
            if key in self._labels:
                self._rows[key] = row
        for key, row in self._new.items():
            self._labels[key], self._rows[key] = None, row
        self._changed, self._new = {}, OrderedDict()
        while len(self._labels) > self.max_rows:
            key, _ = self._labels.popitem(last=False)
            self._rows.pop(key, None)
            self._arrival.pop(key, None)
        keys = list(self._labels)
        frame = self._frame([self._data(k, self._rows[k]) for k in keys])
        self.widget.value = frame
        for key, label in zip(keys, frame.index, strict=True):
            self._labels[key] = label

    def _patch(self) -> None:
        changed, self._changed = self._changed, {}
        data = self.widget.value
        patch: dict[str, list[tuple[Any, Any]]] = {}
        for key, row in changed.items():
            label = self._labels.get(key)
            if label is None:  # rolled over meanwhile
                continue
            new = self._data(key, row)
            for column in self._data_columns:
                if not _same(data.at[label, column], new[column]):
                    patch.setdefault(column, []).append((label, new[column]))
            self._rows[key] = row
        if patch:
            self.widget.patch(patch)

    def _stream(self) -> None:
        new, self._new = self._new, OrderedDict()
        rows = list(new.items())
        for key, _ in rows[:-self.max_rows]:  # more than the table holds: never shown
            self._arrival.pop(key, None)
        rows = rows[-self.max_rows:]
        frame = self._frame([self._data(k, r) for k, r in rows])
        self.widget.stream(frame, rollover=self.max_rows, follow=False)
        labels = self.widget.value.index[-len(rows):]
        for (key, row), label in zip(rows, labels, strict=True):
            self._labels[key], self._rows[key] = label, row
        while len(self._labels) > len(self.widget.value):  # rolled over
            key, _ = self._labels.popitem(last=False)
            self._rows.pop(key, None)
            self._arrival.pop(key, None)

    def _frame(self, cells: list[Row]) -> pd.DataFrame:
        """Rows of cells as the widget's data, every column of its fixed type."""
        return pd.DataFrame({
            c: pd.Series([row[c] for row in cells], dtype="float64" if c in self._floats else object)
            for c in self._data_columns
        })

    def _data(self, key: Any, row: Row) -> Row:
        """A row's cells in the data frame, with its rank."""
        cells = {c: row.get(c) for c in self.columns}
        cells[RANK] = self.rank(row) if self.rank is not None else self._arrival[key]
        return cells
