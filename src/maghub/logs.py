"""Structured logging: one line per event with its fields, as text (default) or JSON.

Every line is scrubbed of the secrets maghub knows (:data:`maghub.security.redaction.log_redactor`):
a library may log a URL with its credentials, a server may print its arguments.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from maghub.observability.tracing import current_ids
from maghub.security.redaction import log_redactor
from maghub.timestamps import iso_utc

# uvicorn adds "color_message" (its message with ANSI colours) to every record: not a field.
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}


def _fields(record: logging.LogRecord) -> dict[str, object]:
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD_ATTRS}


def _timestamp(record: logging.LogRecord) -> str:
    return iso_utc(datetime.fromtimestamp(record.created, UTC), milliseconds=True)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line}  {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return log_redactor(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **current_ids(),  # the trace the line belongs to, when traces are on
            **_fields(record),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        # Scrubbed before encoding: a secret with a quote or a backslash looks different inside JSON.
        scrubbed = {key: log_redactor(value) if isinstance(value, str) else value for key, value in payload.items()}
        line = json.dumps(scrubbed, default=lambda value: log_redactor(str(value)), ensure_ascii=False)
        return log_redactor(line)  # and what nested fields (lists, mappings) hold


class NonProtocolOutputFilter(logging.Filter):
    """Servers that print banners to stdout (time-mcp does) make the MCP SDK log a full traceback per
    line; the session survives, so one warning line without the traceback says all there is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Failed to parse JSONRPC message"):
            record.msg, record.args = "an MCP server printed a line that is not JSON-RPC; it was ignored", ()
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def configure_logging(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access middleware logs requests with their fields; uvicorn's own access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("mcp.client.stdio").addFilter(NonProtocolOutputFilter())
    for noisy in ("httpx2", "httpcore2", "openai._base_client", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
