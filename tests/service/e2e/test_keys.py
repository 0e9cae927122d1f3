"""API keys: a rotated key stops working and its successor works; a revoked key stops at
once; keys are shown once and stored only as a hash; agencies manage only their own keys
(the full matrix of roles and key operations is in test_key_access)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from service._keys import hash_key
from service._tables import api_keys
from service.client import ClientError


@pytest.fixture()
def fresh_key(world):
    """A new submitter key of agency-b, issued by the admin."""
    with world.service.admin() as admin:
        return admin.create_key("agency-b", "submitter")


def _status(call) -> int:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.status


def test_rotated_key_stops_and_its_successor_works(world, fresh_key):
    old_key, old_id = fresh_key["api_key"], fresh_key["key_id"]
    with world.service.client(old_key) as holder:
        assert holder.me()["key_id"] == old_id
        new = holder.rotate_key(old_id)  # a holder rotates its own key
        assert _status(holder.me) == 401
        assert _status(lambda: holder.cases(world.agreement_id)) == 401
    assert new["key_id"] != old_id and new["api_key"] != old_key
    assert (new["agency"], new["role"]) == ("agency-b", "submitter")
    with world.service.client(new["api_key"]) as holder:
        assert holder.me() == {"agency": "agency-b", "role": "submitter", "key_id": new["key_id"]}
        assert holder.cases(world.agreement_id, limit=1)["total"] > 0
        assert _status(holder.list_keys) == 403  # a submitter manages no key but itself
    with world.service.admin() as admin:
        listed = {k["key_id"]: k for k in admin.list_keys()}
    assert listed[old_id]["revoked_at"] is not None and listed[new["key_id"]]["revoked_at"] is None
    assert all("api_key" not in k for k in listed.values())


def test_revoked_key_stops_at_once(world, fresh_key):
    with world.service.client(fresh_key["api_key"]) as holder:
        assert holder.me()["agency"] == "agency-b"
        with world.service.admin() as admin:
            revoked = admin.revoke_key(fresh_key["key_id"])
            assert revoked["revoked_at"] is not None
            assert _status(lambda: admin.revoke_key(fresh_key["key_id"])) == 409
            assert _status(lambda: admin.rotate_key(fresh_key["key_id"])) == 409
        assert _status(holder.me) == 401


def test_an_agency_cannot_manage_another_agencys_key(world, fresh_key):
    with world.client("agency-a") as other:  # a submitter: no key but its own
        assert _status(lambda: other.rotate_key(fresh_key["key_id"])) == 403
        assert _status(lambda: other.revoke_key(fresh_key["key_id"])) == 403
    with world.service.client() as steward:  # another agency's steward: no such key
        assert _status(lambda: steward.rotate_key(fresh_key["key_id"])) == 404
        assert _status(lambda: steward.revoke_key(fresh_key["key_id"])) == 404
    with world.service.client(fresh_key["api_key"]) as holder:
        assert holder.me()["key_id"] == fresh_key["key_id"]  # still works


def test_only_a_hash_of_each_key_is_stored(world, fresh_key):
    with world.service.db.engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys)).all()
        stored = conn.execute(
            sa.select(api_keys.c.key_hash).where(api_keys.c.id == fresh_key["key_id"])
        ).scalar_one()
    assert stored == hash_key(fresh_key["api_key"])
    assert not [r for r in rows if fresh_key["api_key"] in " ".join(map(str, r))]
