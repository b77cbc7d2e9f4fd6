"""Start, recognise and stop the stack's own processes, and nothing else.

Each process we start gets a record `<state>/run/<name>.json` with its PID and the
kernel's start time for that PID. `down` signals a PID only when both still match,
so a PID the kernel has since handed to another program is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

from riskwatch.stack.errors import StackError


@dataclass(frozen=True)
class ProcessRecord:
    """What `up` remembers of a process it started."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str

    def save(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / f"{self.name}.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, run_dir: Path, name: str) -> ProcessRecord | None:
        try:
            data = json.loads((run_dir / f"{name}.json").read_text())
            data["argv"] = tuple(data["argv"])
            return cls(**data)
        except (OSError, ValueError, TypeError, KeyError):
            return None

    @staticmethod
    def forget(run_dir: Path, name: str) -> None:
        (run_dir / f"{name}.json").unlink(missing_ok=True)


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    state = fields[0]
    if state in ("Z", "X"):  # a zombie has exited; it only awaits its parent
        return None
    return int(fields[19])


def is_alive(record: ProcessRecord) -> bool:
    return start_ticks(record.pid) == record.start_ticks


def spawn(
    name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> ProcessRecord:
    """Start `argv` in its own session, output to `log_path`, and record it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our own process group: signals reach children too
            env=dict(env) if env is not None else None,
        )
    ticks = start_ticks(proc.pid)
    if ticks is None:
        raise StackError(f"{name} exited at once: see {log_path}")
    return ProcessRecord(name, proc.pid, ticks, tuple(argv), str(log_path))


def terminate(record: ProcessRecord, timeout_seconds: float = 10.0) -> None:
    """SIGTERM the record's process group, then SIGKILL what is left after the timeout."""
    if not is_alive(record):
        return
    _signal_group(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_alive(record):
            return
        time.sleep(0.05)
    _signal_group(record.pid, signal.SIGKILL)
    _reap(record.pid)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # When `up` and `down` run in one Python process (the tests), the child is ours to reap.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def http_ok(
    url: str,
    timeout: float = 2.0,
    headers: Mapping[str, str] | None = None,
    verify: bool | str = True,
) -> bool:
    try:
        resp = requests.get(url, timeout=timeout, headers=headers, verify=verify)
    except requests.RequestException:
        return False
    return resp.status_code == 200


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout_seconds: float,
    alive: Callable[[], bool] | None = None,
    log_path: str | None = None,
) -> None:
    """Poll `check` until it passes; fail early if the process behind it died."""
    deadline = time.monotonic() + timeout_seconds
    delay = 0.05
    while True:
        if check():
            return
        where = f": see {log_path}" if log_path else ""
        if alive is not None and not alive():
            raise StackError(f"{what} exited before it was ready{where}{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout_seconds:.0f}s{where}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _tail(log_path: str | None) -> str:
    if not log_path:
        return ""
    try:
        lines = Path(log_path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" (last line: {lines[-1][:300]})" if lines else ""
