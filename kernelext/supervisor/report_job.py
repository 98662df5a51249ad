"""One scheduled report: ``python -m kernelext.supervisor.report_job ID [--final]``.

Started by the supervisor (``duties``) in a process of its own: the report re-runs a backtest of
the session's bars, which takes seconds. It writes the report to ``$PAPERLAB_HOME/reports/`` and
sends it to the session's own notification URLs (``kernelext.notify.store``; never
``$PAPERLAB_NOTIFY``); a report that fails is sent as a failure. Its output goes to
``logs/report-<id>.log``; no URL is ever printed unmasked.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """0 when the report was written, 1 when it failed (said in one line, and sent)."""
    p = argparse.ArgumentParser(prog="kernelext.supervisor.report_job")
    p.add_argument("session_id")
    p.add_argument("--final", action="store_true", help="the report at the session's end")
    ns = p.parse_args(argv)

    from kernelext import api
    from kernelext.errors import one_line
    from kernelext.notify import messages, store
    from kernelext.notify.notifier import Notifier
    from kernelext.notify.urls import scrub

    urls = store.load(ns.session_id)
    try:
        result = api.report(ns.session_id, notify=urls, final=ns.final)
    except Exception as e:  # noqa: BLE001  (said in one line and sent; the supervisor goes on)
        why = scrub(one_line(e), urls)
        print(f"report {ns.session_id}: failed: {why}", file=sys.stderr)
        Notifier(urls).send(messages.report_failed(ns.session_id, None, why))
        return 1
    sent = "; ".join(str(d) for d in result.deliveries)
    print(f"{'final ' if ns.final else ''}report {ns.session_id} -> {result.path}" + (f"; notify {sent}" if sent else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
