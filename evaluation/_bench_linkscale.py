"""Linking at scale end to end: Parquet batches in, cases CSV out, through `caselink link`.

For each name mix and size: synthetic people registered by two agencies (each holds a person
with probability 1/3 given at least one does, so 1,000,000 people give about 600,000 records
per agency), encoded with the shipped ``person`` schema and written as batch files; then the
installed ``caselink link`` links them in a process of its own, timed from outside, its peak
memory read from the kernel's accounting of that child. Two name mixes:

* ``rare`` -- the generator's whole name lists, where names seldom repeat;
* ``common`` -- every name drawn from the 20 most frequent of each list
  (``generate_synthetic(common_names=20)``): a few hundred names for everyone, thousands
  of namesakes each, transliteration variants and typos as usual.

Recall against the exhaustive search, on ``sample_rows`` records of agency A
(:mod:`evaluation._bench_linkrecall`): the run's pipeline again with the exhaustive best 10
at the run's own candidate floor for the sampled records -- candidates found, links made at
the same threshold, and namesakes no search can separate. F1 is pairwise over the cases
written.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import bloom
from evaluation._bench_linkrecall import against_exhaustive
from evaluation._metrics import pairwise_scores
from evaluation._synthetic import generate

__all__ = [
    "COMMON_NAMES",
    "bench_scale",
    "case_scores",
    "partner_rows",
    "scale_register",
    "scale_run",
]

COMMON_NAMES = 20  # names kept per list in the "common" mix
MIXES = ("rare", "common")
_OVERLAP = 1.0 / 3.0  # two agencies each hold 60% of the people
_TOP_K = 10
_SECRET = bloom.Secret(bytes(range(32)))


def _caselink() -> str:
    found = shutil.which("caselink", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("the caselink command is not installed next to this Python")
    return found


_TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time, where the machine has it


def _child(args: list[str], log: Path, timer: str | None = _TIME) -> tuple[float, float, int]:
    """Run ``args``; its wall seconds, peak resident memory (GiB) and exit code.

    The peak is what GNU time reports of the command it starts: a child's own peak as the
    kernel reports it (``wait4``) counts the memory of the process it was forked from, up to
    its exec -- after a 1,000,000-people run, the bench process's 2.8 GiB showed as the peak
    of a 100,000-people link. Without ``/usr/bin/time`` the bench process is forked from as
    it is, and its size at that moment bounds the figure from below."""
    peak_file = log.with_suffix(".peak")
    if timer is not None:
        args = [timer, "-f", "%M", "-o", str(peak_file), *args]
    started = time.perf_counter()
    with log.open("wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak_kib = float(usage.ru_maxrss)
    if timer is not None and peak_file.exists():
        lines = peak_file.read_text().split()
        peak_kib = float(lines[-1]) if lines and lines[-1].isdigit() else peak_kib
    return seconds, peak_kib / 2**20, proc.returncode


def scale_register(n_people: int, mix: str, *, seed: int = 0, agencies: int = 2):
    """The scale section's register: ``n_people`` synthetic people in ``agencies`` agencies
    (``mix``: ``rare`` or ``common`` names), and each agency's batch encoded with ``person``
    under the bench's secret. Returns ``(data, batches)``."""
    if mix not in MIXES:
        raise ValueError(f"mix must be one of {', '.join(MIXES)}")
    data = generate(
        n_people,
        agencies,
        overlap=_OVERLAP,
        seed=seed,
        common_names=COMMON_NAMES if mix == "common" else None,
    )
    schema = bloom.Schema.load("person")
    batches = [
        bloom.encode(df, schema, _SECRET, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    return data, batches


def partner_rows(truth: pd.DataFrame, a_batch, b_batch) -> np.ndarray:
    """Per record of ``a_batch``, the row of its person's record in ``b_batch`` (-1: none)."""
    entity = truth.set_index(["agency", "record_ref"])["entity_id"]
    ea = entity.loc[a_batch.metadata.agency].reindex(a_batch.record_refs).to_numpy()
    eb = entity.loc[b_batch.metadata.agency].reindex(b_batch.record_refs).to_numpy()
    where_b = pd.Series(np.arange(eb.size), index=eb)
    return where_b.reindex(ea).fillna(-1).astype(np.int64).to_numpy()


def case_scores(cases: pd.DataFrame, truth: pd.DataFrame):
    """Pairwise precision, recall and F1 of ``cases`` (agency, record_ref, case_id)."""
    merged = cases.merge(truth, on=["agency", "record_ref"])
    return pairwise_scores(merged["case_id"].to_numpy(), merged["entity_id"].to_numpy())


def scale_run(
    n_people: int, mix: str, *, sample_rows: int = 2000, seed: int = 0, agencies: int = 2
) -> dict:
    """One size of one mix, end to end (see the module's docstring); recall is sampled on
    the first two agencies."""
    t0 = time.perf_counter()
    data, batches = scale_register(n_people, mix, seed=seed, agencies=agencies)
    prepared = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="caselink-scale-") as tmp:
        folder = Path(tmp)
        paths = [str(b.write(folder / f"{b.metadata.agency}.parquet")) for b in batches]
        args = [
            _caselink(),
            "link",
            *paths,
            "--out",
            str(folder / "cases.csv"),
            "--summary",
            str(folder / "summary.json"),
        ]
        seconds, peak, code = _child(args, folder / "link.err")
        if code != 0:
            raise RuntimeError(
                f"caselink link failed ({code}): {(folder / 'link.err').read_text()[-2000:]}"
            )
        summary = json.loads((folder / "summary.json").read_text())
        cases = pd.read_csv(folder / "cases.csv")
    scores = case_scores(cases, data.truth)
    a_batch, b_batch = batches[:2]
    truth_b = partner_rows(data.truth, a_batch, b_batch)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(a_batch), size=min(sample_rows, len(a_batch)), replace=False))
    recall = against_exhaustive(batches, cases, rows, truth_b)
    return {
        "people": n_people,
        "mix": mix,
        "agencies": agencies,
        "records": [len(b) for b in batches],
        "link_seconds": round(seconds, 1),
        "link_peak_rss_gib": round(peak, 2),
        "link_stage_seconds": summary.get("stages", {}),
        "generate_and_encode_seconds": round(prepared, 1),
        "candidate_floor": round(float(summary["candidate_threshold"]), 4),
        "threshold": round(float(summary["threshold"]), 4),
        "pairs_scored": summary["pairs_scored"],
        "links_accepted": summary["links_accepted"],
        "precision": round(scores.precision, 4),
        "recall": round(scores.recall, 4),
        "f1": round(scores.f1, 4),
        **recall,
    }


def bench_scale(
    sizes: tuple[int, ...] = (100_000, 300_000, 1_000_000),
    mixes: tuple[str, ...] = ("rare", "common"),
    *,
    sample_rows: int = 2000,
    seed: int = 0,
    three_agencies: tuple[int, ...] = (1_000_000,),
) -> dict[str, Any]:
    """Every mix at every size, smallest first, in two agencies; then the common mix at
    ``three_agencies`` sizes in three agencies. Each run's figures under ``runs``."""
    runs = [
        scale_run(n, mix, sample_rows=sample_rows, seed=seed)
        for mix in mixes
        for n in sorted(sizes)
    ]
    runs += [
        scale_run(n, "common", sample_rows=sample_rows, seed=seed, agencies=3)
        for n in three_agencies
    ]
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"runs": runs, "bench_process_peak_rss_gib": round(own, 2), "seed": seed}


def main(argv: list[str]) -> int:
    """``python -m evaluation._bench_linkscale PEOPLE [MIX]``: one :func:`scale_run` (two
    agencies; MIX ``common`` by default) as a JSON document on stdout, with the machine's load
    at the start -- the command the README's comparisons of one commit against another are
    made with (each from its own checkout, ``PYTHONPATH`` pointing at it)."""
    if not 1 <= len(argv) <= 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        sys.stderr.write("usage: python -m evaluation._bench_linkscale PEOPLE [rare|common]\n")
        return 2
    mix = argv[1] if len(argv) == 2 else "common"
    if mix not in MIXES:
        sys.stderr.write(f"MIX must be one of {', '.join(MIXES)}, not {mix!r}\n")
        return 2
    load = os.getloadavg()
    figures = scale_run(int(argv[0]), mix)
    figures["load_at_start"] = [round(x, 2) for x in load]
    sys.stdout.write(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
