"""What every server helper shares: free ports on 127.0.0.1, waiting for readiness, stopping by PID."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``ready`` until it is true; ``RuntimeError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def end_process(process: subprocess.Popen | None, timeout: float) -> None:
    """Stop a server a helper started: SIGTERM, then SIGKILL if it has not gone after ``timeout`` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def child_pids(pid: int) -> list[int]:
    """PIDs of ``pid``'s child processes (Linux ``/proc``)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        return [int(child) for child in children.read_text().split()]
    return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent_pid(stat) == pid]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time these processes have used so far (``OSError`` where ``/proc`` lacks one)."""
    import os

    return sum(_cpu_ticks(Path(f"/proc/{pid}/stat")) for pid in pids) / os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: Path) -> list[str]:
    # Fields after "(comm)"; the command name itself may contain spaces.
    return stat.read_text().rsplit(")", 1)[1].split()


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(_stat_fields(stat)[1])
    except (OSError, IndexError, ValueError):
        return None


def _cpu_ticks(stat: Path) -> int:
    fields = _stat_fields(stat)
    return int(fields[11]) + int(fields[12])  # utime, stime
