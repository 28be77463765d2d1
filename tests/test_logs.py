"""Structured log lines, and the filter that tames MCP servers printing junk to stdout."""

from __future__ import annotations

import json
import logging

from maghub.logs import JsonFormatter, NonProtocolOutputFilter, TextFormatter


def record(message: str, **fields: object) -> logging.LogRecord:
    try:
        raise ValueError("bad line")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    rec = logging.LogRecord("mcp.client.stdio", logging.ERROR, __file__, 1, message, (), exc_info)
    rec.__dict__.update(fields)
    return rec


def test_junk_stdout_becomes_one_warning_line_without_traceback() -> None:
    rec = record("Failed to parse JSONRPC message from server")
    assert NonProtocolOutputFilter().filter(rec)
    assert rec.levelname == "WARNING" and rec.exc_info is None
    assert "Traceback" not in TextFormatter().format(rec)
    other = record("Reading from the MCP server's stdout failed mid-session")
    NonProtocolOutputFilter().filter(other)
    assert other.levelname == "ERROR" and other.exc_info is not None


def test_fields_are_rendered_in_text_and_json() -> None:
    rec = logging.LogRecord("maghub.access", logging.INFO, __file__, 1, "GET %s", ("/models",), None)
    rec.__dict__.update(status=200, duration_ms=1.5, color_message="ignored")
    text = TextFormatter().format(rec)
    assert "GET /models" in text and "status=200" in text and "color_message" not in text
    payload = json.loads(JsonFormatter().format(rec))
    assert payload["message"] == "GET /models" and payload["status"] == 200 and payload["time"].endswith("Z")
