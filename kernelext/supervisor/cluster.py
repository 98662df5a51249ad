"""Detached sessions placed on a Ray cluster: each session's process is started and owned by a
Ray actor, so Ray spreads sessions over the cluster's machines by their resource requests.

``paperlab supervise --ray auto|ADDRESS`` (or ``PAPERLAB_CLUSTER``) gives the supervisor a
``RayLauncher`` instead of starting processes itself. The actor (``SessionHost``, one per session,
named ``paperlab-<session id>``, detached so it outlives the supervisor) runs the same
``python -m kernelext.supervisor.session_process`` a single machine runs, on the node Ray chose,
with the supervisor's ledger settings (``PAPERLAB_HOME``, ``PAPERLAB_LEDGER_URL``); the session
claims its row and takes controls from the shared ledger as anywhere. A session process that dies
(``kill -9``) or a node that goes away is seen by the supervisor's poll and relaunched by its own
policy (a fresh actor, wherever Ray places it), restored from the ledger.

Resource requests per session come from measurement (``tests/bench/test_bench_capacity.py``):
``PAPERLAB_SESSION_CPUS`` (default 0.05) and ``PAPERLAB_SESSION_MEMORY_MB`` (default 400): a session
process holds ~355 MB and uses ~0.01 core replaying a bar a second; a live feed with book depth costs more.

A cluster on one machine's loopback (the tests) needs Ray to keep 127.0.0.1 as the node address:
``loopback_env()`` and ``python -m kernelext.supervisor.cluster start ...`` (a ``ray start`` that
does not swap 127.0.0.1 for the machine's other address).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

CLUSTER_ENV = "PAPERLAB_CLUSTER"
CPUS_ENV, MEMORY_ENV = "PAPERLAB_SESSION_CPUS", "PAPERLAB_SESSION_MEMORY_MB"
NAMESPACE = "paperlab"
POLL_TIMEOUT_S = 5.0
DEAD = -1000  # the returncode given to a session whose actor (or node) is gone
_SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")


def passed_env() -> dict[str, str]:
    """The ``PAPERLAB_*`` settings a session process needs on another node (ledger, home, venue
    endpoints), never a secret: Ray keeps actor arguments in its cluster store. Credentials are read on
    each node (its environment or its venue's ``.env``)."""
    return {k: v for k, v in os.environ.items()
            if k.startswith("PAPERLAB_") and not any(word in k for word in _SECRET_WORDS)}
_LOOPBACK = ("127.0.0.1", "localhost")


def is_loopback(address: str) -> bool:
    """Whether ``address`` (``host:port``) is this machine's loopback."""
    return address.rsplit(":", 1)[0] in _LOOPBACK


def loopback_env() -> dict[str, str]:
    """Environment for a Ray driver or head on 127.0.0.1: Ray otherwise resolves 127.0.0.1 to the
    machine's routable address (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` makes it keep loopback)."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _requests() -> dict[str, Any]:
    from kernelext.errors import SpecError

    try:
        cpus = float(os.environ.get(CPUS_ENV, "") or 0.05)
        memory_mb = float(os.environ.get(MEMORY_ENV, "") or 400)
    except ValueError:
        raise SpecError(f"{CPUS_ENV} / {MEMORY_ENV}: expected numbers (CPUs per session, MB per session)") from None
    if not (0 < cpus <= 64 and 50 <= memory_mb <= 65536):
        raise SpecError(f"{CPUS_ENV} / {MEMORY_ENV}: expected 0 < CPUs <= 64 and 50 <= MB <= 65536")
    return {"num_cpus": cpus, "memory": int(memory_mb * 1024 * 1024)}


def connect(address: str) -> None:
    """Join the Ray cluster at ``address`` (``auto``: the one this machine runs) as a driver."""
    if address != "auto" and is_loopback(address):
        os.environ.update(loopback_env())
    import ray

    if not ray.is_initialized():
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR")


class SessionHost:
    """A Ray actor that starts one session's process on its node and answers for it."""

    def __init__(self, session_id: str, attempt: int, restore: bool, env: dict[str, str]) -> None:
        import socket

        import ray

        from kernelext.supervisor import files

        os.environ.update(env)
        out = open(files.log_path(f"session-{session_id}"), "ab")  # noqa: SIM115  (the child keeps it)
        with out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kernelext.supervisor.session_process", session_id,
                 "--attempt", str(attempt), *(["--restore"] if restore else [])],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, env={**os.environ, **env},
            )
        self.place = {"pid": self.proc.pid, "host": socket.gethostname(),
                      "node": ray.get_runtime_context().get_node_id()}

    def where(self) -> dict[str, Any]:
        """The session process's pid, host and Ray node id."""
        return self.place

    def poll(self) -> int | None:
        """The session process's exit code, or None while it runs."""
        return self.proc.poll()

    def terminate(self) -> None:
        """SIGTERM the session process (it stops the session)."""
        if self.proc.poll() is None:
            self.proc.terminate()


@dataclass
class RayProcess:
    """A session process on the cluster, with the ``subprocess.Popen`` face the supervisor uses."""

    actor: Any
    pid: int
    host: str
    node: str
    returncode: int | None = field(default=None)

    def poll(self) -> int | None:
        """The exit code (``DEAD`` when the actor or its node is gone), or None while it runs."""
        if self.returncode is not None:
            return self.returncode
        import ray

        try:
            self.returncode = ray.get(self.actor.poll.remote(), timeout=POLL_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            return None  # a slow node: ask again next round
        except ray.exceptions.RayError:
            self.returncode = DEAD
        if self.returncode is not None:
            _release(self.actor)
        return self.returncode


def _release(actor: Any) -> None:
    import ray

    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # noqa: BLE001  (already gone)
        pass


class RayLauncher:
    """Starts each session's process in a ``SessionHost`` actor, spread over the cluster."""

    def __init__(self, address: str) -> None:
        connect(address)
        import ray

        self.address = address
        self.requests = _requests()
        self.remote = ray.remote(SessionHost)

    def launch(self, session_id: str, attempt: int, restore: bool) -> RayProcess:
        """A new actor (the old one, if any, released) that runs the session on the node Ray picks."""
        import ray

        name = f"paperlab-{session_id}"
        try:
            _release(ray.get_actor(name, namespace=NAMESPACE))
        except ValueError:
            pass
        env = passed_env()
        actor = self.remote.options(
            name=name, namespace=NAMESPACE, lifetime="detached", scheduling_strategy="SPREAD", max_restarts=0,
            **self.requests,
        ).remote(session_id, attempt, restore, env)
        place = ray.get(actor.where.remote(), timeout=120)
        return RayProcess(actor, place["pid"], place["host"], place["node"])

    def adopt(self, session_id: str) -> RayProcess | None:
        """The running actor of ``session_id`` left by an earlier supervisor, or None."""
        import ray

        try:
            actor = ray.get_actor(f"paperlab-{session_id}", namespace=NAMESPACE)
            place = ray.get(actor.where.remote(), timeout=POLL_TIMEOUT_S)
        except (ValueError, ray.exceptions.RayError):
            return None
        return RayProcess(actor, place["pid"], place["host"], place["node"])


def _ray_start(argv: list[str]) -> int:
    """``ray start ARGS`` keeping 127.0.0.1 as the node address (Ray swaps it for the machine's
    routable one, and refuses a second node when told to keep loopback): a cluster of raylets on one
    machine's loopback, for tests and a laptop."""
    head = "--head" in argv  # a head keeps loopback with Ray's own switch; a worker node needs the patch
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0" if head else "1"  # "1": let a worker node join ...
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray._private.services as services

    services.resolve_ip_for_localhost = lambda host: host  # ... and keep 127.0.0.1 as its address
    from ray.scripts.scripts import main as ray_main

    sys.argv = ["ray", *argv]
    return ray_main()


if __name__ == "__main__":  # pragma: no cover  (python -m kernelext.supervisor.cluster start --head ...)
    sys.exit(_ray_start(sys.argv[1:]))
