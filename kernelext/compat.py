"""Making a Nautilus ``TradingNode`` a good guest in a host process (a Jupyter kernel, the CLI).

Two things Nautilus does on import/build would take over the host:

- ``nautilus_trader.system.kernel`` installs uvloop as the *process-wide* event-loop
  policy on import. The host's loops are its own business: we put the policy back.
- ``NautilusKernel._setup_loop`` resets SIGINT to ``SIG_DFL`` and adds loop signal
  handlers. In a Jupyter kernel that kills Interrupt; off the main thread it raises.
  Nodes built off the main thread (all of ours) skip it: the host keeps its handlers,
  and our runner turns Ctrl-C into flatten + stop itself.
"""

from __future__ import annotations

import asyncio
import threading

import kernelext

_host_policy = kernelext.HOST_LOOP_POLICY  # recorded when kernelext was first imported

from nautilus_trader.system.kernel import NautilusKernel  # noqa: E402  (import sets uvloop policy)

asyncio.set_event_loop_policy(_host_policy)


def new_node_loop() -> asyncio.AbstractEventLoop:
    """A fresh loop for a node's own thread (uvloop when installed, as Nautilus prefers)."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()

_original_setup_loop = NautilusKernel._setup_loop


def _setup_loop_on_main_thread_only(self: NautilusKernel) -> None:
    if threading.current_thread() is threading.main_thread():
        _original_setup_loop(self)


NautilusKernel._setup_loop = _setup_loop_on_main_thread_only  # type: ignore[method-assign]
