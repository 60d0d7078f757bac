"""A command run beside the server: the demo's model comparison, started once the server
answers so that both do not compete for the CPU while the server starts."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import typer


def run_foreground(command: list[str], what: str = "model comparison") -> None:
    """Run `command` with its output on this terminal; a failure stops the CLI."""
    code = subprocess.run(command, check=False).returncode
    if code:
        typer.secho(f"{what} failed (exit {code}): {' '.join(command)}", err=True, fg="red")
        raise typer.Exit(code)


def server_answers(url: str) -> bool:
    """Whether GET `url` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):  # not listening yet, or not ready (503)
        return False


class BackgroundCommand:
    """`command`, started at lower CPU priority once `ready_url` answers, its output in `log`;
    when it ends it says so and prints `result` (the Markdown file it writes)."""

    def __init__(self, command: list[str], ready_url: str, result: Path,
                 what: str = "model comparison") -> None:
        self.command, self.ready_url, self.result, self.what = command, ready_url, result, what
        self.log = result.with_suffix(".log")
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Wait for the server and run the command, in a daemon thread."""
        typer.echo(f"{self.what}: starts in the background once the server answers; its "
                   f"table lands in {self.result} (log: {self.log})")
        threading.Thread(target=self._run, name="background-command", daemon=True).start()

    def stop(self) -> None:
        """Stop the command if it is running (the server stopped)."""
        with self._lock:
            self._stopped.set()
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()

    def _run(self) -> None:
        while not server_answers(self.ready_url):
            if self._stopped.wait(0.5):
                return
        with self._lock:
            if self._stopped.is_set():
                return
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("wb") as log:
                self._proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                              stdin=subprocess.DEVNULL)
            # Lower priority, so the server keeps the CPU it needs to answer (skipped where
            # there is no setpriority, or when the process has already ended).
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, self._proc.pid, 10)
        typer.echo(f"{self.what}: started (pid {self._proc.pid})")
        code = self._proc.wait()
        if self._stopped.is_set():
            return
        if code == 0 and self.result.is_file():
            typer.echo(f"{self.what}: done, {self.result}:\n{self.result.read_text()}")
        else:
            typer.secho(f"{self.what}: failed (exit {code}); see {self.log}", err=True,
                        fg="red")
