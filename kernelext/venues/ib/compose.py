"""Run the IB Gateway container for the user with ``docker compose`` (start / restart / stop).

The compose file is ``kernelext/venues/ib/gateway/compose.yaml`` (profiles ``paper`` and
``live``). Credentials live in the git-ignored ``.env`` the compose file names; nothing
here opens, reads or prints it. Every output line passes through ``mask_secrets`` first
(``TWS_PASSWORD=...``, ``password: ...`` and the literal value of ``$TWS_PASSWORD``).
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Literal, get_args

from kernelext.venues.ib.probe import COMPOSE_PATH as IB_COMPOSE_PATH

Action = Literal["start", "restart", "stop"]
ACTIONS: tuple[str, ...] = get_args(Action)
SERVICES: dict[str, str] = {"paper": "ib-gateway", "live": "ib-gateway-live"}
PROJECT_ROOT: Path = Path(__file__).resolve().parents[3]
COMPOSE_PATH: Path = IB_COMPOSE_PATH
SECRET_ENVS = ("TWS_PASSWORD", "IB_PASSWORD", "TWS_PASSWORD_PAPER", "VNC_SERVER_PASSWORD")
MASK = "********"
_SECRET_WORDS = re.compile(
    r"(?i)(\b[\w.-]*(?:password|passwd|secret|token)[\w.-]*\b[\"']?\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"',;]+)"
)
_ACTIONS_ARGS: dict[str, tuple[str, ...]] = {"start": ("up", "-d"), "restart": ("restart",), "stop": ("stop",)}


@functools.cache
def docker_available() -> bool:
    """True when ``docker`` is on PATH and ``docker compose version`` succeeds (cached)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        done = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _check(action: str, profile: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"action: expected one of {', '.join(ACTIONS)} (got {action!r})")
    if profile not in SERVICES:
        raise ValueError(f"profile: expected one of {', '.join(SERVICES)} (got {profile!r})")


def compose_command(action: Action, profile: str = "paper") -> list[str]:
    """The argv, e.g. ``docker compose -f /abs/compose.yaml --profile paper up -d ib-gateway``."""
    _check(action, profile)
    return [
        "docker", "compose", "-f", str(COMPOSE_PATH), "--profile", profile,
        *_ACTIONS_ARGS[action], SERVICES[profile],
    ]


def compose_text(action: Action, profile: str = "paper") -> str:
    """``compose_command`` as one shell line to show the user (copy and paste)."""
    return shlex.join(compose_command(action, profile))


def _mask_match(m: re.Match[str]) -> str:
    value = m.group(2)
    quote = value[0] if value[0] in "\"'" else ""
    return f"{m.group(1)}{quote}{MASK}{quote}"


def mask_secrets(line: str) -> str:
    """``line`` with password-looking values and the value of ``$TWS_PASSWORD`` (and kin) masked."""
    for name in SECRET_ENVS:
        value = os.environ.get(name, "")
        if len(value) >= 3:
            line = line.replace(value, MASK)
    return _SECRET_WORDS.sub(_mask_match, line)


def run_compose(action: Action, on_line: Callable[[str], None], profile: str = "paper") -> int:
    """Run ``compose_command(action)``, stream each (masked) output line to ``on_line``; the exit code.

    Runs from the project root (where the README's command runs). A missing ``docker``
    gives one line and 127.
    """
    argv = compose_command(action, profile)
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, errors="replace", cwd=PROJECT_ROOT,
        )
    except OSError as exc:
        on_line(mask_secrets(f"cannot run {argv[0]}: {exc.strerror or type(exc).__name__}"))
        return 127
    assert proc.stdout is not None
    with proc.stdout:
        for raw in proc.stdout:
            on_line(mask_secrets(raw.rstrip("\r\n")))
    return proc.wait()


__all__ = [
    "ACTIONS", "COMPOSE_PATH", "SERVICES", "Action", "compose_command", "compose_text", "docker_available",
    "mask_secrets", "run_compose",
]
