"""The product's promise in a real Jupyter kernel (jupyter_client, ipykernel):

- Interrupt still interrupts the running cell while a session runs, and the session
  keeps running;
- a bad ``%paper`` line prints one line on stderr, never a traceback;
- ``%unload_ext kernelext`` stops the kernel's sessions cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

START = (
    "%paper start --strategy ema_cross --instrument BTC/USD "
    "--params '{\"fast\": 3, \"slow\": 8}' --speed 120 --for 120s --label kernel-test"
)


@pytest.fixture
def kernel(paperlab_home) -> Iterator[Any]:
    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "PAPERLAB_HOME": str(paperlab_home)})
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def run(kc: Any, code: str, timeout: float = 60) -> tuple[dict, list[dict]]:
    """Execute ``code``; return the reply content and the iopub messages of that execution."""
    msg_id = kc.execute(code)
    outputs: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no idle status for {code!r} within {timeout}s") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        outputs.append(msg)
    reply = kc.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"], outputs


def text(outputs: list[dict], name: str = "stdout") -> str:
    return "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream" and m["content"]["name"] == name)


def every_stream(kc: Any, seconds: float) -> str:
    """All stream text the kernel publishes for ``seconds``, whichever cell it is attributed to."""
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
    return "".join(out)


def evaluate(kc: Any, expr: str) -> str:
    reply, outputs = run(kc, f"print({expr})")
    for _ in range(3):  # after a cell's error ipykernel aborts requests that reach it before its own reset
        if reply["status"] != "aborted":  # message (a race under load: CI at f8f06ce); a person re-runs the cell
            break
        reply, outputs = run(kc, f"print({expr})")
    assert reply["status"] == "ok", reply
    return text(outputs).strip()


def test_interrupt_reaches_the_cell_and_the_session_keeps_running(kernel) -> None:
    km, kc = kernel
    assert run(kc, "%load_ext kernelext")[0]["status"] == "ok"
    reply, _ = run(kc, START)
    assert reply["status"] == "ok"
    run(kc, "import time\nfrom kernelext.session.runner import SessionRunner\nr = next(iter(SessionRunner.live().values()))")
    msg_id = kc.execute("time.sleep(60)")
    time.sleep(1.5)
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=20)
    while reply["parent_header"].get("msg_id") != msg_id:  # replies of earlier cells come first
        reply = kc.get_shell_msg(timeout=20)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    bars_then = int(evaluate(kc, "r.status().bars"))
    assert evaluate(kc, "r.state") == "running"
    deadline = time.monotonic() + 30
    while int(evaluate(kc, "r.status().bars")) <= bars_then:
        assert time.monotonic() < deadline, "the session stopped receiving bars after the interrupt"
        time.sleep(0.5)
    # and the ledger (what dashboards and frames read) keeps growing: its writer survived the
    # interrupt, which jupyter_client sends to the kernel's whole process group
    rows = "r.ledger.query('SELECT COUNT(*) FROM equity WHERE session_id = ?', (r.session_id,))[0][0]"
    assert evaluate(kc, "r.writer.alive") == "True"
    rows_then = int(evaluate(kc, rows))
    deadline = time.monotonic() + 30
    while int(evaluate(kc, rows)) <= rows_then:
        assert time.monotonic() < deadline, "the ledger stopped growing after the interrupt"
        time.sleep(0.5)
    reply, outputs = run(kc, "%paper kill")
    assert reply["status"] == "ok" and "kill: ok" in text(outputs)
    assert evaluate(kc, "r.state") == "stopped"


def test_bad_input_is_one_line_and_unload_stops_sessions(kernel) -> None:
    _, kc = kernel
    run(kc, "%load_ext kernelext")
    for line, field in (
        ("%paper start --strategy nope --instrument BTC/USD", "strategy"),
        ("%paper start --strategy ema_cross --instrument BTC/USD --params '{bad'", "params"),
        ("%paper start --strategy ema_cross --instrument BTC/USD --starting-cash '-5 USD'", "starting_cash"),
        ("%paper start --strategy ema_cross --instrument BTC/USD --until 25:99", "until"),
        ("%paper fills no-such-session", "session"),
    ):
        reply, outputs = run(kc, line)
        assert reply["status"] == "ok", (line, reply)
        err = text(outputs, "stderr").strip().splitlines()
        assert len(err) == 1 and err[0].startswith("paper: error:") and field in err[0], (line, err)
        assert not [m for m in outputs if m["msg_type"] == "error"], line
    run(kc, "ss = %paper sessions")
    assert evaluate(kc, "ss.height") == "0", "a bad start wrote a session"
    run(kc, START)
    run(kc, "from kernelext.session.runner import SessionRunner\nr = next(iter(SessionRunner.live().values()))")
    assert evaluate(kc, "r.state") == "running"
    reply, _ = run(kc, "%unload_ext kernelext")
    assert reply["status"] == "ok"
    assert evaluate(kc, "r.state") == "stopped"
    assert evaluate(kc, "len(SessionRunner.live())") == "0"


def test_dashboard_loads_panel_itself_in_a_notebook_that_never_called_pn_extension(kernel) -> None:
    _, kc = kernel
    run(kc, "%load_ext kernelext")
    reply, _ = run(kc, "%paper start --strategy ema_cross --instrument BTC/USD --feed replay --speed max --bars 300")
    assert reply["status"] == "ok"
    reply, outputs = run(kc, "%paper dashboard")
    assert reply["status"] == "ok", reply
    shown = [m["content"]["data"] for m in outputs if m["msg_type"] in ("display_data", "execute_result")]
    everything = json.dumps(shown) + text(outputs) + text(outputs, "stderr")
    assert "requires the panel extension" not in everything
    assert any("application/vnd.holoviews_exec.v0+json" in data for data in shown), [list(d) for d in shown]
    assert any("application/vnd.holoviews_load.v0+json" in data for data in shown), "Panel's extension was not loaded"


NOISY_STRATEGY = '''
import kernelext
from kernelext.strategies import PaperStrategy, PaperStrategyConfig

@kernelext.register("noisy")
class Noisy(PaperStrategy):
    """Logs a Nautilus ERROR line (with a traceback) on its first bar, then trades nothing."""

    def _decide(self, bar) -> None:
        if not getattr(self, "_said", False):
            self._said = True
            self.log.error("noisy strategy error line\\nTraceback (most recent call last):\\nValueError: from Nautilus")
'''


def test_nautilus_error_lines_go_to_the_session_log_not_the_notebook(kernel, paperlab_home) -> None:
    _, kc = kernel
    run(kc, "%load_ext kernelext")
    assert run(kc, NOISY_STRATEGY)[0]["status"] == "ok"
    reply, outputs = run(kc, "%paper start --strategy noisy --instrument BTC/USD --feed replay --speed max --bars 50")
    assert reply["status"] == "ok"
    reply, later = run(kc, "from kernelext.session.runner import SessionRunner\n"
                           "[r.wait(30) for r in SessionRunner.live().values()]\nimport time; time.sleep(1)")
    shown = text(outputs) + text(outputs, "stderr") + text(later) + text(later, "stderr") + every_stream(kc, 3.0)
    assert "noisy strategy error line" not in shown and "[ERROR]" not in shown, shown
    logs = "".join(p.read_text(errors="replace") for p in (paperlab_home / "logs").glob("nautilus-*.log"))
    assert "noisy strategy error line" in logs
