"""A session must be a good guest in its host process (a Jupyter kernel, the CLI).

Nautilus, left to itself, installs uvloop as the process-wide event-loop policy on
import and resets SIGINT when a node is built: in a notebook that kills Interrupt.
These tests check the host keeps both, in this process and in fresh interpreters
(where the import-time effects can be seen).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve

DEADLINE_S = 45.0


def run_script(code: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PAPERLAB_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_host_sigint_handler_and_loop_policy_survive_a_session(paperlab_home) -> None:
    def host_handler(signum, frame):  # stands in for ipykernel's Interrupt handler
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, host_handler)
    try:
        policy = asyncio.get_event_loop_policy()
        runner = SessionRunner(
            build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], speed=60)
        ).start()
        try:
            deadline = time.monotonic() + DEADLINE_S
            while runner.bars < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert runner.bars >= 1, "the session should be streaming bars"
            assert runner.state == "running"
            assert signal.getsignal(signal.SIGINT) is host_handler, "the node replaced the host's SIGINT handler"
            assert asyncio.get_event_loop_policy() is policy, "the node replaced the event-loop policy"
        finally:
            runner.stop()
        assert runner.state == "stopped"
        assert signal.getsignal(signal.SIGINT) is host_handler
        assert asyncio.get_event_loop_policy() is policy
    finally:
        signal.signal(signal.SIGINT, previous)


def test_interrupt_reaches_the_main_thread_while_a_session_runs(paperlab_home) -> None:
    out = run_script(
        """
        import asyncio, json, os, signal, threading, time

        policy = asyncio.get_event_loop_policy()
        handler = signal.getsignal(signal.SIGINT)

        from kernelext.session.runner import SessionRunner
        from kernelext.spec import build_spec, make_sleeve

        facts = {
            "policy_after_import": asyncio.get_event_loop_policy() is policy,
            "handler_after_import": signal.getsignal(signal.SIGINT) is handler,
        }
        runner = SessionRunner(build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], speed=60)).start()
        facts["policy_during"] = asyncio.get_event_loop_policy() is policy
        facts["handler_during"] = signal.getsignal(signal.SIGINT) is handler
        deadline = time.monotonic() + 30
        while runner.bars < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        facts["bars_before_interrupt"] = runner.bars

        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        try:
            while time.monotonic() < deadline:  # a long-running notebook cell
                time.sleep(0.05)
            print("not caught", flush=True)
        except KeyboardInterrupt:
            print("caught", flush=True)
            facts["alive_after_interrupt"] = runner.is_alive
            facts["state_after_interrupt"] = runner.state
        runner.stop()
        facts["state_after_stop"] = runner.state
        facts["policy_after"] = asyncio.get_event_loop_policy() is policy
        facts["handler_after"] = signal.getsignal(signal.SIGINT) is handler
        print(json.dumps(facts), flush=True)
        print("ok", flush=True)
        """,
        paperlab_home,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert "caught" in lines, f"KeyboardInterrupt did not reach the main thread:\n{out.stdout}\n{out.stderr}"
    assert lines[-1] == "ok"
    facts = json.loads(lines[-2])
    assert facts["bars_before_interrupt"] >= 1
    assert facts["alive_after_interrupt"] is True, "the interrupt must not end the session"
    assert facts["state_after_interrupt"] == "running"
    assert facts["state_after_stop"] == "stopped"
    for key in ("policy_after_import", "handler_after_import", "policy_during", "handler_during",
                "policy_after", "handler_after"):
        assert facts[key] is True, key


def test_importing_kernelext_backtest_keeps_the_host_loop_policy(paperlab_home) -> None:
    out = run_script(
        """
        import asyncio, signal
        policy = asyncio.get_event_loop_policy()
        handler = signal.getsignal(signal.SIGINT)
        import kernelext.research.backtest
        print(asyncio.get_event_loop_policy() is policy, signal.getsignal(signal.SIGINT) is handler,
              type(asyncio.get_event_loop_policy()).__module__)
        """,
        paperlab_home,
    )
    assert out.returncode == 0, out.stderr
    same_policy, same_handler, _module = out.stdout.split()
    assert same_handler == "True"
    assert same_policy == "True", f"policy is now {_module}"
