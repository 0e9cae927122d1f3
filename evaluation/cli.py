"""`caselink demo` and `caselink bench`: the evaluator's commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

__all__ = ["register"]

console = Console(stderr=True, soft_wrap=True)


def demo() -> None:
    """The main job end to end on embedded data (FEBRL4 as two agencies)."""
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


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("bench")(bench)
