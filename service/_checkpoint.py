"""Signed audit checkpoints: the heads of the chains, anchored outside the database.

A checkpoint says "chain ``scope`` had entry ``seq`` with hash ``hash`` at time ``at``",
signed with the service's Ed25519 key (:mod:`service._signing`). On the wire and in files it
is one JSON object (one line in a JSON-lines file)::

    {"format": "caselink.audit-checkpoint/1", "scope": "agr_...", "seq": 42,
     "hash": "<64 hex>", "at": "2026-...Z", "key_id": "<16 hex>", "signature": "<128 hex>"}

The signature covers the canonical JSON (sorted keys, no spaces) of every field but
``signature``. Scope ``""`` is the service's own chain. Since each entry's hash covers the
entry before it, a checkpoint of entry ``seq`` vouches for the whole chain up to ``seq``.

Where they go: the service appends a checkpoint of every chain that moved to an append-only
file (:mod:`service._checkpoint_writer`) every ``CASELINK_AUDIT_CHECKPOINT_SECONDS`` and at
shutdown, and hands one to a party that asks (``GET .../audit/checkpoint``,
``caselink audit checkpoint``) — also written to the file. ``caselink admin verify-audit
--against FILE`` checks each kept checkpoint's signature with the public key, then refuses a
chain that is shorter than a kept checkpoint or whose entry at its ``seq`` has another hash.

What this protects against — and what not:

* Someone who holds **only the database** (its files, a dump, the PostgreSQL credentials) can
  still edit, drop or reorder entries and recompute every later hash and ``audit_heads``, so
  that the plain verification passes: a chain is only self-consistent. Against a kept
  checkpoint the same change is caught: dropping the newest entries leaves the chain shorter
  than the checkpoint, and rewriting any entry at or before its ``seq`` changes the hash of
  the entry at ``seq``. Such an attacker cannot forge a checkpoint for the rewritten chain
  without the signing key; one signed by another key is refused.
* Changes *after* the newest kept checkpoint are not caught by it, only by the chain itself
  (an edit that does not recompute later hashes) or by a later checkpoint: the interval and
  how often parties fetch checkpoints bound that window.
* Someone who holds the database **and the signing key** can sign a rewritten history; the
  checkpoints kept *before* the rewrite, by parties or in a file they cannot change, still
  show the fork. Whoever holds the key, the database **and every kept copy** can rewrite
  history undetected: keep checkpoints where the operator cannot reach them (the parties'
  own machines, a file on another host or made append-only with ``chattr +a``).
* A restore from an older backup rolls the chains back too; against checkpoints kept after
  the backup it shows as a truncation — which it is: those entries are gone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from caselink_errors import CheckpointError
from service._signing import AuditSigner, PublicKey

__all__ = [
    "FORMAT",
    "CheckpointError",
    "KeptCheckpoints",
    "canonical",
    "check_kept",
    "chain_name",
    "make_checkpoint",
    "read_checkpoints",
]

FORMAT = "caselink.audit-checkpoint/1"
_FIELDS = {"format", "scope", "seq", "hash", "at", "key_id", "signature"}
_HEX = re.compile(r"^[0-9a-f]+$")


def chain_name(scope: str) -> str:
    return scope or "(service)"


def canonical(document: dict[str, Any]) -> bytes:
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def make_checkpoint(
    signer: AuditSigner, scope: str, seq: int, hash_: str, at: datetime | None = None
) -> dict[str, Any]:
    """The signed checkpoint of ``scope``'s chain at entry ``seq``."""
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    document: dict[str, Any] = {
        "format": FORMAT,
        "scope": scope,
        "seq": seq,
        "hash": hash_,
        "at": when.replace("+00:00", "Z"),
        "key_id": signer.key_id,
    }
    document["signature"] = signer.sign(canonical(document)).hex()
    return document


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and bool(_HEX.match(value))


def _shape_problems(doc: Any) -> list[str]:
    if not isinstance(doc, dict):
        return ["not a JSON object"]
    problems = [f"field {k} is missing" for k in sorted(_FIELDS - doc.keys())]
    problems += [f"field {k} is not a checkpoint field" for k in sorted(doc.keys() - _FIELDS)]
    if problems:
        return problems
    checks = {
        "format": doc["format"] == FORMAT,
        "scope": isinstance(doc["scope"], str) and len(doc["scope"]) <= 64,
        "seq": type(doc["seq"]) is int and 0 <= doc["seq"] < 2**63,
        "hash": _is_hex(doc["hash"], 64),
        "at": isinstance(doc["at"], str),
        "key_id": isinstance(doc["key_id"], str) and len(doc["key_id"]) <= 64,
        "signature": _is_hex(doc["signature"], 128),
    }
    return [f"field {k} is malformed" for k, ok in checks.items() if not ok]


def _documents(text: str, where: str) -> Iterator[tuple[int, dict[str, Any]]]:
    stripped = text.strip()
    if stripped.startswith("{") and "\n" in stripped:  # one pretty-printed checkpoint?
        try:
            yield 1, json.loads(stripped)
            return
        except json.JSONDecodeError:
            pass  # JSON lines, then
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{where}, line {number}: not JSON ({e.msg})") from None


def read_checkpoints(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, checkpoint) of every checkpoint in ``path``: one JSON object, or JSON
    lines. A line that is not a checkpoint at all is an error naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not UTF-8 text"
        raise CheckpointError(f"--against: cannot read {path} ({reason})") from e
    found = []
    for number, doc in _documents(text, f"--against {path}"):
        problems = _shape_problems(doc)
        if problems:
            raise CheckpointError(
                f"--against {path}, line {number}: not a caselink audit checkpoint "
                f"({'; '.join(problems)})"
            )
        found.append((number, doc))
    if not found:
        raise CheckpointError(f"--against: {path} holds no checkpoint")
    return found


@dataclass
class KeptCheckpoints:
    """The kept checkpoints whose signature holds, by chain: ``heads[scope][seq] = hash``;
    and, by chain, every checkpoint refused (bad signature, another key, a fork)."""

    heads: dict[str, dict[int, str]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    count: int = 0

    @property
    def scopes(self) -> list[str]:
        return sorted(self.heads.keys() | self.problems.keys())

    def refuse(self, scope: str, problem: str) -> None:
        self.problems.setdefault(scope, []).append(problem)


def _signature_problem(doc: dict[str, Any], key: PublicKey) -> str | None:
    what = f"the kept checkpoint of entry {doc['seq']}"
    if doc["key_id"] != key.key_id:
        return (
            f"{what} is signed by key {doc['key_id']}, not by this service's key "
            f"{key.key_id}: refused"
        )
    if not key.verifies(bytes.fromhex(doc["signature"]), canonical(doc)):
        return f"{what} has a bad signature (altered or forged): refused"
    return None


def check_kept(
    documents: Iterable[tuple[int, dict[str, Any]]], key: PublicKey, where: str = "checkpoint"
) -> KeptCheckpoints:
    """Check each checkpoint's signature with ``key``; keep the (seq, hash) of those that hold.

    Two valid checkpoints of one chain and entry with different hashes mean the service signed
    two histories (a restore from backup, or a rewrite with the key): a problem of that chain.
    """
    kept = KeptCheckpoints()
    for number, doc in documents:
        kept.count += 1
        scope, seq = doc["scope"], doc["seq"]
        problem = _signature_problem(doc, key)
        if problem is not None:
            kept.refuse(scope, f"{problem} ({where} line {number})")
            continue
        seen = kept.heads.setdefault(scope, {}).setdefault(seq, doc["hash"])
        if seen != doc["hash"]:
            kept.refuse(
                scope,
                f"two kept checkpoints of entry {seq} sign different hashes "
                f"({where} line {number}): the chain was forked",
            )
    return kept
