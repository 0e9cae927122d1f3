"""Where upload bodies wait, and what start-up clears there (only the service's own folders)."""

from __future__ import annotations

from pathlib import Path

from service._uploads import clear_uploads, upload_dir


def test_the_upload_directory_follows_the_database(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "data" / "caselink.db"
    assert upload_dir(f"sqlite:///{db}", None) == tmp_path / "data" / "caselink.db-uploads"
    assert upload_dir("sqlite:///./caselink.db", None) == tmp_path / "caselink.db-uploads"
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    assert upload_dir(pg, None) == tmp_path / "caselink-uploads"
    assert upload_dir("sqlite://", None) == tmp_path / "caselink-uploads"
    assert upload_dir(pg, Path("elsewhere")) == tmp_path / "elsewhere"  # the setting wins


def test_start_up_clears_left_bodies_and_nothing_else(tmp_path):
    where = tmp_path / "uploads"
    assert clear_uploads(where) == 0 and where.is_dir()
    assert where.stat().st_mode & 0o777 == 0o700
    (where / "caselink-upload-abc").mkdir()
    (where / "caselink-upload-abc" / "upload.parquet").write_bytes(b"x" * 100)
    (where / "caselink-query-def").mkdir()
    (where / "notes.txt").write_text("not the service's")
    assert clear_uploads(where) == 2
    assert sorted(p.name for p in where.iterdir()) == ["notes.txt"]
