"""Structured logs: one JSON object per line, with nothing an agency sent in it.

Fields: ``time`` (UTC), ``level``, ``logger``, ``message``, and for uvicorn's access log
``client``, ``method``, ``path``, ``status``. The service never logs a filter, a key or a
secret; as a second line of defence anything shaped like an API key is redacted from every
line before it is written. ``CASELINK_LOG_FORMAT=text`` gives plain lines instead.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

__all__ = ["JsonFormatter", "configure_logging", "redact"]

_KEY = re.compile(r"clk_[0-9a-f]{16}_[A-Za-z0-9_-]{8,}")


def redact(text: str) -> str:
    return _KEY.sub("clk_<redacted>", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == 5
        ):
            client, method, path, _, status = record.args
            body.update(
                client=client,
                method=method,
                path=path,
                status=status,
                message=f"{method} {path} {status}",
            )
        else:
            body["message"] = record.getMessage()
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(body, default=str))


class _RedactingText(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Send every logger (uvicorn's too) to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else _RedactingText("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
