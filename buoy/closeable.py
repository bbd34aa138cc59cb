"""One way for the buoy's resources (databases, sockets) to be context managers.

A class that owns something to release defines ``close()``, safe to call twice; leaving a
``with`` block calls it, whatever happened inside.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closeable:
    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
