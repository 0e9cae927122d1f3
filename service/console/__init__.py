"""The caselink console: server-rendered pages under ``/console`` (issue 16)."""
