"""`caselink demo` and `caselink bench`: the evaluator's commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

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
        ..., "--dataset", help="febrl4, febrl3, febrl3-dup, synthetic, or a folder of your CSVs."
    ),
    out: Path = typer.Option(Path("report"), "--out", help="Folder for report.md and plots."),
    schema: str | None = typer.Option(None, "--schema", help="Schema file or shipped name."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split or the synthetic data."),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="Also link the plain text (recordlinkage)."
    ),
) -> None:
    """Encode, link and score a labelled dataset; write a report with tables and plots."""
    from rich.progress import Progress

    from evaluation._evaluate import load_dataset, run_evaluation
    from evaluation._report import write_report

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("loading data", total=5 if baseline else 4)
        data = load_dataset(dataset, schema, seed)

        def step(name: str) -> None:
            progress.update(task, advance=1, description=name)

        results = run_evaluation(data, on_step=step, baseline=baseline)
        step("writing the report")
        path = write_report(results, out)
    acc, plain = results["accuracy"], results["plaintext_baseline"]
    console.print(
        f"{results['dataset']}: precision {acc['precision']:.4f}, recall {acc['recall']:.4f}, "
        f"F1 {acc['f1']:.4f}; ECE {results['calibration']['ece_candidate_pairs']:.4f}"
        + (f"; plaintext baseline F1 {plain['f1']:.4f}" if plain else "")
        + f"; report in {path}"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("evaluate")(evaluate)
    app.command("bench")(bench)
