"""Running a dashboard entry point as a real process, as the CLI and systemd will."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = (
    "import sys; from pathlib import Path; from dashboard.{0} import run; "
    "sys.exit(run(Path(sys.argv[1])))"
)


class EntryPoint:
    """``dashboard.<module>.run(config)`` in a child process; its log lines are collected."""

    def __init__(self, module: str, config: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH.format(module), str(config)],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._new.put(line)

    def wait_for_line(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                found = re.search(pattern, line)
                if found:
                    return found
            try:
                self.lines.append(self._new.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no log line matching {pattern!r}:\n{self.log()}") from None

    def finish(self, timeout: float = 15.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        while not self._new.empty():
            self.lines.append(self._new.get())
        assert self.process.stderr is not None
        self.process.stderr.close()
        return code

    def log(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()
