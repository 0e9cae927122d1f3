"""`caselink demo` and `caselink bench`: the evaluator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)


def demo() -> None:
    """The main job end to end: FEBRL4 linked offline, then three agencies via the service."""
    from evaluation._demo import run_demo

    run_demo()


def bench(
    out: Path = typer.Option(Path("bench/results.json"), "--out", help="JSON file of figures."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only these sections."),
) -> None:
    """Speed benchmarks (encoder, kernels, blocking); figures go to a JSON file."""
    from evaluation._bench import run_benchmarks

    with console.status("benchmarking") as status:
        try:
            results = run_benchmarks(
                out, only, on_section=lambda name: status.update(f"benchmarking: {name}")
            )
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--only") from None
    for name in only or results:
        figures = {k: v for k, v in results[name].items() if k not in ("machine", "measured_at")}
        console.print(f"[bold]{name}[/bold]: {figures}")
    console.print(f"figures written to {out}")


def evaluate(
    dataset: str = typer.Option(
        ...,
        "--dataset",
        help="febrl4, febrl3, febrl3-dup, synthetic, households, or a folder of your CSVs.",
    ),
    out: Path = typer.Option(Path("report"), "--out", help="Folder for report.md and plots."),
    schema: str | None = typer.Option(None, "--schema", help="Schema file or shipped name."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split or the synthetic data."),
    people: int | None = typer.Option(
        None,
        "--people",
        help="People in the synthetic or households dataset (default 5,000; at least 200).",
        show_default=False,
    ),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Also link the plain text (recordlinkage)."
    ),
    labels: Path | None = typer.Option(
        None,
        "--labels",
        help="Reviewed pairs (caselink review labels --out): the report adds the calibration "
        "against them.",
    ),
) -> None:
    """Encode, link and score a labelled dataset; write a report with tables and plots."""
    from evaluation._evaluate import GENERATED, MIN_SYNTHETIC_PEOPLE
    from evaluation._review_calibration import load_labels

    if people is not None and dataset not in GENERATED:
        raise typer.BadParameter(
            f"applies to the generated datasets only ({', '.join(GENERATED)})",
            param_hint="--people",
        )
    if people is not None and people < MIN_SYNTHETIC_PEOPLE:
        raise typer.BadParameter(
            f"{people} is too few: the synthetic dataset needs at least {MIN_SYNTHETIC_PEOPLE} "
            "people, or there are too few links to fit the model and measure calibration",
            param_hint="--people",
        )
    reviewed = load_labels(labels) if labels is not None else None  # refused before any work
    results, path = _evaluate_with_progress(dataset, out, schema, seed, people, baseline, reviewed)
    acc, plain, cal = results["accuracy"], results["plaintext_baseline"], results["calibration"]
    console.print(
        f"{results['dataset']}: precision {acc['precision']:.4f}, recall {acc['recall']:.4f}, "
        f"F1 {acc['f1']:.4f}; ECE {cal['ece_candidate_pairs']:.4f}, "
        f"from 0.1 {cal['ece_candidate_pairs_from_0_1']:.4f}"
        + (f"; plaintext baseline F1 {plain['f1']:.4f}" if plain else "")
        + _households_summary(results.get("households"))
        + _reviewed_summary(results.get("review_calibration"))
        + f"; report in {path}"
    )


def _households_summary(h: dict | None) -> str:
    if h is None:
        return ""
    return (
        f"; without households F1 {h['individual']['f1']:.4f} "
        f"({h['f1_gain_points']:+.2f} points with them)"
    )


def _reviewed_summary(cal: dict | None) -> str:
    if cal is None:
        return ""
    q = cal["queued"]
    ece = "-" if q["ece"] is None else f"{q['ece']:.4f}"
    return f"; {q['pairs']:,} reviewed pairs, ECE {ece} against them"


def _evaluate_with_progress(
    dataset: str,
    out: Path,
    schema: str | None,
    seed: int,
    people: int | None,
    baseline: bool,
    reviewed: pd.DataFrame | None = None,
) -> tuple[dict, Path]:
    """The evaluation, its stages shown as they start: a bar on a terminal, and a line each
    on stderr (also when stderr is a file or a pipe, where a bar is not drawn)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from evaluation._evaluate import Stages, load_dataset, run_evaluation
    from evaluation._report import write_report

    names = ["loading data", "encoding", "linking", "scoring"]
    names += [*(["plaintext baseline"] if baseline else []), "writing the report"]
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("evaluating", total=len(names))

        def started(name: str) -> None:
            if name not in names:  # a stage only some datasets have, after the one running
                names.insert(names.index(progress.tasks[0].description) + 1, name)
                progress.update(task, total=len(names))
            done = names.index(name)
            progress.update(task, completed=done, description=name)
            progress.console.print(f"[{done + 1}/{len(names)}] {name}", highlight=False)

        stages = Stages(on_start=started)
        stages.start("loading data")
        data = load_dataset(dataset, schema, seed, people)
        results = run_evaluation(data, baseline=baseline, stages=stages)
        if reviewed is not None:  # the calibration against clerical review's labels
            from evaluation._review_calibration import review_calibration

            results["review_calibration"] = review_calibration(reviewed)
        started("writing the report")
        path = write_report(results, out)
    return results, path


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("evaluate")(evaluate)
    app.command("bench")(bench)
