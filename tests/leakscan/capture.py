"""Every log record the process emits, whoever emits it.

Powertools loggers do not propagate to the root logger, so a root handler alone (pytest's
caplog) misses them. ``LogCapture`` sits on the root logger *and* on every logger that does
not propagate (Powertools' service loggers, and any other library's), and keeps each record
once. ``text(record)`` renders everything a log sink could receive from it: the message, every
attribute (the ``extra`` fields included) and the formatted exception with its chain.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._seen: set[int] = set()
        self._attached: list[logging.Logger] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            if id(record) in self._seen:
                return
            self._seen.add(id(record))
            self.records.append(record)

    def attach(self) -> None:
        """(Re)attach to the root and to every non-propagating logger known now."""
        loggers = [logging.getLogger()]
        for candidate in list(logging.root.manager.loggerDict.values()):
            if isinstance(candidate, logging.Logger) and not candidate.propagate:
                loggers.append(candidate)
        for logger in loggers:
            if self not in logger.handlers:
                logger.addHandler(self)
                self._attached.append(logger)

    def detach(self) -> None:
        for logger in self._attached:
            logger.removeHandler(self)
        self._attached.clear()

    def clear(self) -> None:
        with self._guard:
            self.records.clear()
            self._seen.clear()

    def messages(self, level: int = logging.DEBUG) -> list[str]:
        return [text(record) for record in self.records if record.levelno >= level]


@contextmanager
def capturing_logs(level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """A LogCapture attached for the block; the root logger's level lowered meanwhile so
    DEBUG records are produced at all (Powertools loggers keep their own level)."""
    capture = LogCapture()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(level)
    capture.attach()
    try:
        yield capture
    finally:
        capture.detach()
        root.setLevel(previous)


def text(record: logging.LogRecord) -> str:
    """Everything a sink could get from the record, as one string."""
    parts = [record.getMessage()]
    parts.append(json.dumps(record.__dict__, default=repr, sort_keys=True))
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)
