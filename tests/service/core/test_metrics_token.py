"""The /metrics token setting: from CASELINK_METRICS_TOKEN or a file, checked, never echoed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service._settings import Settings

TOKEN = "a-metrics-token-of-some-length"


def test_no_token_means_admin_keys_only(monkeypatch):
    monkeypatch.delenv("CASELINK_METRICS_TOKEN", raising=False)
    monkeypatch.delenv("CASELINK_METRICS_TOKEN_FILE", raising=False)
    assert Settings().read_metrics_token() is None


def test_the_token_from_the_environment_is_kept_secret(monkeypatch):
    monkeypatch.setenv("CASELINK_METRICS_TOKEN", TOKEN)
    settings = Settings()
    assert settings.read_metrics_token() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_the_token_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "token").write_text(TOKEN + "\n")
    monkeypatch.setenv("CASELINK_METRICS_TOKEN_FILE", str(tmp_path / "token"))
    assert Settings().read_metrics_token() == TOKEN


def test_a_missing_file_or_a_short_token_is_refused_without_echoing_it(tmp_path):
    with pytest.raises(ValueError, match="CASELINK_METRICS_TOKEN_FILE: cannot read"):
        Settings(metrics_token_file=tmp_path / "absent").read_metrics_token()
    (tmp_path / "short").write_text("tiny-token")
    with pytest.raises(ValueError, match="at least 16") as info:
        Settings(metrics_token_file=tmp_path / "short").read_metrics_token()
    assert "tiny-token" not in str(info.value)
    with pytest.raises(ValidationError, match="at least 16") as info:
        Settings(metrics_token="tiny token")
    assert "tiny token" not in str(info.value)


def test_token_and_token_file_together_are_refused(tmp_path):
    with pytest.raises(ValidationError, match="not both"):
        Settings(metrics_token=TOKEN, metrics_token_file=tmp_path / "token")
