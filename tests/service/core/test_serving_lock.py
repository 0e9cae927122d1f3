"""A restore and a running service exclude each other on a SQLite database (service._serving):
the lock beside the file, taken for real (two open file descriptions, as two processes)."""

from __future__ import annotations

import pytest

from caselink_errors import BackupError, ConfigurationError
from service._serving import ServingLock, lock_path, no_service_running


def test_a_restore_is_refused_while_a_service_holds_the_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'caselink.db'}"
    first, second = ServingLock(url), ServingLock(url)  # two replicas share it
    with pytest.raises(BackupError, match="a caselink service is running"), no_service_running(url):
        pass
    first.release()
    with pytest.raises(BackupError), no_service_running(url):  # one replica is enough
        pass
    second.release()
    # none left: the restore may go on, and no service starts under it
    with no_service_running(url), pytest.raises(ConfigurationError, match=r"restore .* under way"):
        ServingLock(url)
    ServingLock(url).release()
    assert lock_path(url).stat().st_mode & 0o777 == 0o600


def test_other_databases_have_no_lock():
    assert lock_path("postgresql+psycopg://postgres@127.0.0.1/test") is None
    assert lock_path("sqlite://") is None
    ServingLock("sqlite:///:memory:").release()
    with no_service_running("postgresql+psycopg://postgres@127.0.0.1/test"):
        pass
