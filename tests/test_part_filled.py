"""A partial fill is visible: the orders frame's filled quantity, ``paperlab status`` and the
dashboard's orders table show what filled against what was ordered."""

from __future__ import annotations

from pathlib import Path

from kernelext import api
from kernelext.ledger import Ledger
from kernelext.spec import build_spec, make_sleeve
from kernelext.session import recording
from kernelext.surfaces.cli import format_status
from tests.test_ledger import fill_event, order_event

SID = "20261130-000000-abcdef"


def test_status_and_frames_show_filled_against_ordered(paperlab_home: Path) -> None:
    led = Ledger(paperlab_home)
    try:
        spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="replay")
        recording.create_row(led, SID, spec, kind="paper", venue="sandbox", feed="replay", status="stopped")
        led.write_events([
            order_event("order.submitted", "O-1", 1, sid=SID, quantity=3.0),
            fill_event("O-1", "T-1", 2, qty=1.0, sid=SID, quantity=3.0, status="PARTIALLY_FILLED"),
            order_event("order.submitted", "O-2", 3, sid=SID, quantity=2.0),
            fill_event("O-2", "T-2", 4, qty=2.0, sid=SID, quantity=2.0),
        ])
        orders = api.frame("orders", SID, ledger=led)
        assert dict(zip(orders["client_order_id"], orders["filled_qty"])) == {"O-1": 1.0, "O-2": 2.0}
        report = api.status_report(SID, ledger=led)
        assert report["part_filled"] == [{"client_order_id": "O-1", "side": "BUY", "status": "PARTIALLY_FILLED",
                                          "filled": 1.0, "quantity": 3.0}]
        assert "part-filled O-1 BUY 1 of 3 (PARTIALLY_FILLED)" in format_status(report)
    finally:
        led.close()


def test_the_dashboards_orders_table_has_a_filled_column() -> None:
    from widgets.dashboard import ORDER_COLUMNS, order_row

    row = order_row({"quantity": 3.0, "filled_qty": 1.0, "status": "PARTIALLY_FILLED"}, 1, "order.filled")
    assert "filled" in ORDER_COLUMNS and (row["qty"], row["filled"]) == (3.0, 1.0)
