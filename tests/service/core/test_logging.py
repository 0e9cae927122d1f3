"""Log lines: JSON with the access fields, and anything shaped like an API key redacted."""

from __future__ import annotations

import json
import logging

from service._keys import new_key
from service._logging import JsonFormatter, redact


def _record(name: str, msg: str, args: tuple) -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_an_api_key_anywhere_in_a_line_is_redacted():
    key = new_key().api_key
    assert redact(f"Authorization: Bearer {key}.") == "Authorization: Bearer clk_<redacted>."
    line = JsonFormatter().format(_record("caselink", "got %s", (key,)))
    assert key not in line and "clk_<redacted>" in line


def test_access_lines_carry_method_path_and_status():
    args = ("127.0.0.1:5000", "GET", "/v1/agreements/agr_1/cases?limit=5", "1.1", 200)
    body = json.loads(
        JsonFormatter().format(_record("uvicorn.access", '%s - "%s %s HTTP/%s" %d', args))
    )
    assert (body["method"], body["path"], body["status"]) == (*args[1:3], 200)
    assert body["level"] == "INFO" and body["time"].endswith("+00:00")
