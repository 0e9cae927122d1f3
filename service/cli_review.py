"""`caselink review list | decide | labels`: clerical review without names, through a running
service.

::

    caselink review list --agreement agr_... [--status open] [--json]       # your side
    caselink review decide rev_... --agreement agr_... --decision same     # or different, unsure
    caselink review labels --agreement agr_... --out labels.json [--json]  # evaluators, stewards

``list`` and ``decide`` are a ``submitter``'s: its own records' refs, the other agency's name,
the probability, its decision and the item's status — never the other agency's ref. Both
agencies deciding ``same`` (or ``different``) makes a must-link (cannot-link) constraint that
every later run respects. ``labels`` writes the reviewed pairs (no ref, no id) for
``caselink evaluate --labels``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from caselink_output import JSON, is_stdio, print_json, text_out
from service.cli_client import AGREEMENT, CA, EVALUATION_PURPOSE, KEY, URL, client

__all__ = ["parse_band", "register"]

console = Console(stderr=True, soft_wrap=True)
review_app = typer.Typer(
    help="Clerical review: your side of the uncertain links, your decisions, the labels.",
    no_args_is_help=True,
)
STATUSES = ("open", "unsure", "disagreed", "same", "different")
DECISIONS = ("same", "different", "unsure")


def parse_band(text: str, option: str = "--review-band") -> tuple[float, float] | None:
    """``LOW,HIGH`` as a band, ``none`` as no review queue; a plain error otherwise."""
    if text.strip().lower() == "none":
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise typer.BadParameter(
            "give LOW,HIGH (two probabilities, e.g. 0.05,0.9) or none", param_hint=option
        ) from None
    if not 0.01 <= low < high <= 1:
        raise typer.BadParameter("need 0.01 <= LOW < HIGH <= 1", param_hint=option)
    return low, high


@review_app.command("list")
def list_reviews(
    agreement: str = AGREEMENT,
    status: list[str] | None = typer.Option(
        None,
        "--status",
        help="Only items of this status (repeat): open, unsure, disagreed, same, different.",
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Your agency's side of the review queue: your ref, the other agency, the probability."""
    wanted = status or []
    bad = sorted(set(wanted) - set(STATUSES))
    if bad:
        raise typer.BadParameter(f"use {', '.join(STATUSES)}", param_hint="--status")
    with client(url, api_key_file, ca_file=ca_file) as c:
        items = list(c.iter_reviews(agreement, status=wanted))
    if as_json:
        print_json(items)
        return
    table = Table(
        "review",
        "your ref",
        "other agency",
        "probability",
        "your decision",
        "status",
        title=f"{len(items):,} review items",
    )
    for x in items:
        table.add_row(
            x["review_id"],
            x["record_ref"],
            x["other_agency"],
            f"{x['probability']:.3f}",
            x["your_decision"] or "-",
            x["status"],
        )
    Console().print(table)


@review_app.command("decide")
def decide(
    review_id: str = typer.Argument(..., help="The item (rev_...), as review list shows it."),
    agreement: str = AGREEMENT,
    decision: str = typer.Option(
        ..., "--decision", help="same (one person), different (two people) or unsure."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """Record your agency's decision on a review item; both agreeing makes a constraint."""
    if decision not in DECISIONS:
        raise typer.BadParameter(f"use {', '.join(DECISIONS)}", param_hint="--decision")
    with client(url, api_key_file, ca_file=ca_file) as c:
        item = c.decide_review(agreement, review_id, decision)
    if as_json:
        print_json(item)
        return
    status = item["status"]
    said = {
        "open": "waiting for the other agency's decision",
        "same": "both agencies agreed: must-link, kept in one case from the next run on",
        "different": "both agencies agreed: cannot-link, kept apart from the next run on",
        "disagreed": "the other agency decided otherwise: no constraint; either may decide again",
        "unsure": "no constraint while an agency is unsure; either may decide again",
    }[status]
    console.print(f"{item['review_id']}: you decided {decision}; status {status} ({said})")


@review_app.command("labels")
def labels(
    agreement: str = AGREEMENT,
    out: Path | None = typer.Option(
        None, "--out", help="Write the labels document (JSON) here, for evaluate ('-': stdout)."
    ),
    purpose: str | None = EVALUATION_PURPOSE,
    as_json: bool = JSON,
    url: str | None = URL,
    api_key_file: Path | None = KEY,
    ca_file: Path | None = CA,
) -> None:
    """The reviewed pairs as labels (evaluators, stewards): probabilities and decisions."""
    with client(url, api_key_file, purpose=purpose, ca_file=ca_file) as c:
        doc = c.review_labels(agreement)
    if out is not None:
        with text_out(out) as sink:
            sink.write(json.dumps(doc, indent=2) + "\n")
        if not is_stdio(out):
            console.print(f"wrote {len(doc['pairs']):,} reviewed pairs to {out}")
        return
    if as_json:
        print_json(doc)
        return
    table = Table("decision", "pairs", "mean probability", title=f"{doc['agreement_id']}")
    for decision in ("same", "different", "unsure", "disagreed"):
        ps = [p["probability_queued"] for p in doc["pairs"] if p["decision"] == decision]
        mean = f"{sum(ps) / len(ps):.3f}" if ps else "-"
        table.add_row(decision, f"{len(ps):,}", mean)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
