"""Signed checkpoints anchor the audit chains outside the database, on SQLite and PostgreSQL.

A database-only attacker truncates a chain (or rewrites it from some entry on) and recomputes
the hashes and the head: the plain verification passes — the limit of a chain alone — and the
verification against a kept checkpoint names the chain and the entry. Checkpoints with a bad
signature or from another key are refused; the checkpoint file only ever grows.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from caselink_cli import app
from service._admin import verify_all
from service._audit import Actor, append, verify
from service._checkpoint import CheckpointError, check_kept, make_checkpoint, read_checkpoints
from service._checkpoint_writer import CheckpointWriter, append_checkpoints
from service._signing import AuditKeyError, load_signer, parse_public_key
from tests.service.core.tamper import head, rewrite_from, truncate

ACTOR = Actor(agency="unhcr", role="steward", key_id="key_0123456789abcdef")
SCOPE = "agr_anchor"


@pytest.fixture()
def signer(tmp_path):
    return load_signer(tmp_path / "state" / "audit-signing.key", create=True)


def _fill(engine, scope=SCOPE, n=6):
    with engine.begin() as c:
        for k in range(n):
            append(c, scope, ACTOR, "audit.read", purpose="oversight", details={"k": k})


def _check(engine, scope=SCOPE, kept=None):
    with engine.connect() as c:
        return verify(c, scope, kept)


def _kept(signer, *documents):
    return check_kept(enumerate(documents, start=1), signer.public)


def _checkpoint_of_head(engine, signer, scope=SCOPE):
    return make_checkpoint(signer, scope, *head(engine, scope))


def _url(engine):
    return engine.url.render_as_string(hide_password=False)


def test_truncation_passes_the_plain_check_but_not_a_kept_checkpoint(engine, signer):
    _fill(engine)
    kept = _kept(signer, _checkpoint_of_head(engine, signer))  # entry 6
    truncate(engine, SCOPE, keep=3)
    assert _check(engine).ok  # the limit of a chain alone: a consistent truncation passes
    check = _check(engine, kept=kept.heads[SCOPE])
    assert not check.ok
    assert check.problems == [
        "the chain ends at entry 3 but a kept checkpoint signed entry 6: "
        "the newest entries were removed (truncated)"
    ]


def test_truncated_then_regrown_chain_is_caught(engine, signer):
    """Dropping entries and appending new ones past the checkpoint's seq is still a rewrite."""
    _fill(engine)
    kept = _kept(signer, _checkpoint_of_head(engine, signer))
    truncate(engine, SCOPE, keep=3)
    _fill(engine, n=4)  # entries 4..7, other ones
    check = _check(engine, kept=kept.heads[SCOPE])
    assert _check(engine).ok and not check.ok
    assert any("entry 6 is not the entry a kept checkpoint signed" in p for p in check.problems)


def test_rewritten_chain_is_caught_at_the_checkpoint(engine, signer):
    _fill(engine, n=2)
    early = _checkpoint_of_head(engine, signer)  # entry 2: before the rewrite
    _fill(engine, n=3)
    late = _checkpoint_of_head(engine, signer)  # entry 5
    rewrite_from(engine, SCOPE, 3)
    assert _check(engine).ok  # every hash recomputed, the head too
    assert _check(engine, kept=_kept(signer, early).heads[SCOPE]).ok  # untouched up to 2
    check = _check(engine, kept=_kept(signer, early, late).heads[SCOPE])
    assert check.problems == [
        "entry 5 is not the entry a kept checkpoint signed: the chain was rewritten at or "
        "before entry 5"
    ]


def test_a_bad_signature_or_another_key_is_refused(engine, signer, tmp_path):
    _fill(engine)
    good = _checkpoint_of_head(engine, signer)
    altered = {**good, "seq": 4}  # claims less than what was signed
    stranger = load_signer(tmp_path / "other.key", create=True)
    foreign = make_checkpoint(stranger, SCOPE, 9, good["hash"])
    kept = _kept(signer, altered, foreign)
    assert kept.heads == {} and kept.count == 2
    assert kept.problems[SCOPE] == [
        "the kept checkpoint of entry 4 has a bad signature (altered or forged): refused "
        "(checkpoint line 1)",
        f"the kept checkpoint of entry 9 is signed by key {stranger.key_id}, not by this "
        f"service's key {signer.key_id}: refused (checkpoint line 2)",
    ]
    (check,) = verify_all(engine, SCOPE, kept)
    assert not check.ok and check.problems == kept.problems[SCOPE]


def test_two_signed_histories_of_one_entry_are_a_fork(engine, signer):
    _fill(engine, n=3)
    first = _checkpoint_of_head(engine, signer)
    other = make_checkpoint(signer, SCOPE, 3, "f" * 64)
    kept = _kept(signer, first, other)
    assert kept.problems[SCOPE] == [
        "two kept checkpoints of entry 3 sign different hashes (checkpoint line 2): "
        "the chain was forked"
    ]


def test_a_chain_whose_agreement_row_is_gone_is_still_checked(engine, signer):
    _fill(engine, "agr_gone", n=2)
    kept = _kept(signer, _checkpoint_of_head(engine, signer, "agr_gone"))
    checks = {c.scope: c for c in verify_all(engine, None, kept)}
    assert "agr_gone" in checks and checks["agr_gone"].ok  # no agreements row, yet verified
    (one,) = verify_all(engine, "agr_gone", kept)  # named alone: no 404 while a checkpoint names it
    assert one.entries == 2


def test_cli_verify_audit_against_a_kept_checkpoint(engine, signer, tmp_path):
    """The truncation of the issue: plain verify-audit exits 0; --against exits 1, naming
    the chain and the entries."""
    _fill(engine)
    kept_file = tmp_path / "kept.json"
    kept_file.write_text(json.dumps(_checkpoint_of_head(engine, signer), indent=2))
    truncate(engine, SCOPE, keep=3)
    runner, url = CliRunner(), _url(engine)
    env = {"COLUMNS": "2000"}
    plain = runner.invoke(app, ["admin", "verify-audit", "--database-url", url], env=env)
    assert plain.exit_code == 0, plain.output
    against = [
        "admin",
        "verify-audit",
        "--database-url",
        url,
        "--against",
        str(kept_file),
        "--public-key",
        signer.public.hex,
    ]
    refused = runner.invoke(app, against, env=env)
    assert refused.exit_code == 1, refused.output
    (row,) = [line for line in refused.output.splitlines() if SCOPE in line]
    assert "ends at entry 3 but a kept checkpoint signed entry 6" in row
    other = load_signer(tmp_path / "other.key", create=True)
    stranger = runner.invoke(app, [*against[:-1], other.public.hex], env=env)
    assert stranger.exit_code == 1 and "not by this service's key" in stranger.output


def test_a_line_that_is_no_checkpoint_is_named(tmp_path, signer):
    path = tmp_path / "kept.jsonl"
    good = make_checkpoint(signer, SCOPE, 1, "a" * 64)
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "seq": "1"}) + "\n")
    with pytest.raises(
        CheckpointError,
        match="line 2: not a caselink audit checkpoint "
        r"\(field seq is malformed\)",
    ):
        read_checkpoints(path)
    path.write_text("{not json\n")
    with pytest.raises(CheckpointError, match="line 1: not JSON"):
        read_checkpoints(path)


def test_writer_appends_chains_that_moved_and_never_rewrites(engine, signer, tmp_path):
    _fill(engine, "agr_a", n=3)
    _fill(engine, "agr_b", n=2)
    path = tmp_path / "anchor" / "checkpoints.jsonl"
    writer = CheckpointWriter(engine, signer, path, interval=3600).start()
    try:
        at_start = path.read_bytes()
        assert [(d["scope"], d["seq"]) for d in map(json.loads, at_start.splitlines())] == [
            ("agr_a", 3),
            ("agr_b", 2),
        ]
        assert writer.write_moved() == [] and path.read_bytes() == at_start  # nothing moved
        _fill(engine, "agr_a", n=2)
        assert [(d["scope"], d["seq"]) for d in writer.write_moved()] == [("agr_a", 5)]
        handed = writer.checkpoint("agr_b", *head(engine, "agr_b"))
        grown = path.read_bytes()
        assert grown.startswith(at_start) and json.loads(grown.splitlines()[-1]) == handed
    finally:
        writer.stop()
    assert path.read_bytes() == grown  # nothing moved since: the stop added nothing
    kept = check_kept(read_checkpoints(path), signer.public)
    assert kept.count == 4 and kept.problems == {}
    assert all(c.ok for c in verify_all(engine, None, kept) if c.scope.startswith("agr_"))


def test_writer_at_start_flags_a_chain_truncated_since_its_checkpoint(
    engine, signer, tmp_path, caplog
):
    path = tmp_path / "checkpoints.jsonl"
    _fill(engine)
    CheckpointWriter(engine, signer, path, interval=3600).start().stop()
    written = path.read_bytes()
    CheckpointWriter(engine, signer, path, interval=3600).start().stop()
    assert path.read_bytes() == written  # a restart re-reads the file: no duplicate
    truncate(engine, SCOPE, keep=3)
    with caplog.at_level("ERROR", logger="service._checkpoint_writer"):
        CheckpointWriter(engine, signer, path, interval=3600).start().stop()
    assert any(
        f"audit chain {SCOPE} does not extend its last checkpoint: it went back from "
        "entry 6 to entry 3" in r.getMessage()
        for r in caplog.records
    )
    assert path.read_bytes().startswith(written)  # the file records the shorter chain too
    (check,) = verify_all(engine, SCOPE, check_kept(read_checkpoints(path), signer.public))
    assert any("a kept checkpoint signed entry 6" in p for p in check.problems)


def test_append_is_o_append_and_whole_lines(tmp_path, signer):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"old":1}\n')
    docs = [make_checkpoint(signer, SCOPE, n, "b" * 64) for n in (1, 2)]
    append_checkpoints(path, docs)
    lines = path.read_bytes().splitlines()
    assert lines[0] == b'{"old":1}' and [json.loads(x) for x in lines[1:]] == docs


def test_signing_key_is_made_once_with_mode_0600(tmp_path):
    path = tmp_path / "state" / "audit-signing.key"
    with pytest.raises(AuditKeyError, match="cannot read it"):
        load_signer(path)  # no key and no create: a clear error naming the file
    first = load_signer(path, create=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    again = load_signer(path, create=True)
    assert again.key_id == first.key_id  # never overwritten
    assert "PRIVATE KEY" not in str(first.public.hex)
    assert parse_public_key(first.public.hex).key_id == first.key_id
    (tmp_path / "pub").write_text(first.public.hex + "\n")
    assert parse_public_key(str(tmp_path / "pub")).key_id == first.key_id
    with pytest.raises(AuditKeyError, match="--public-key"):
        parse_public_key("not-a-key")


def test_admin_audit_key_prints_the_public_key(tmp_path):
    path = tmp_path / "k" / "audit.key"
    runner = CliRunner()
    missing = runner.invoke(app, ["admin", "audit-key", "--key-file", str(path)])
    assert missing.exit_code != 0 and not path.exists()
    made = runner.invoke(app, ["admin", "audit-key", "--key-file", str(path), "--create"])
    assert made.exit_code == 0, made.output
    assert made.stdout.strip().splitlines()[-1] == load_signer(path).public.hex
