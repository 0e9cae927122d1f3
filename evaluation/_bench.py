"""`caselink bench`: speed figures written to a JSON file, with the machine they ran on.

Each section is a function returning a dict of figures; ``--only`` runs some of them and the
others already in the file are kept, so a long section need not be re-run for a short one.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

__all__ = ["SECTIONS", "machine_info", "peak_rss_gib", "run_benchmarks"]

# section name -> (module, function) so optional heavy imports happen only when asked for
SECTIONS: dict[str, tuple[str, str]] = {
    "encoder": ("evaluation._bench_encode", "bench_encoder"),
    "encoder_scaling": ("evaluation._bench_encode", "bench_encoder_scaling"),
    "register_checks": ("evaluation._bench_register_checks", "bench_register_checks"),
    "kernels": ("evaluation._bench_kernels", "bench_kernels"),
    "topk_walk": ("evaluation._bench_walk", "bench_topk_walk"),
    "blocking": ("evaluation._bench_blocking", "bench_blocking_sizes"),
    "blocking_1m_people": ("evaluation._bench_scale", "bench_blocking_people"),
    "scale": ("evaluation._bench_linkscale", "bench_scale"),
    "scale_projection": ("evaluation._bench_projection", "bench_projection"),
    "band_lengths": ("evaluation._bench_bandlengths", "bench_band_lengths"),
    "search_cost": ("evaluation._bench_searchcost", "bench_search_cost"),
    "band_buckets": ("evaluation._bench_buckets", "bench_band_buckets"),
    "service_scale": ("evaluation._bench_servicescale", "bench_service_scale"),
    "accuracy": ("evaluation._bench_accuracy", "bench_accuracy"),
    "plaintext_baseline": ("evaluation._bench_accuracy", "bench_baseline"),
    "privacy": ("evaluation._bench_accuracy", "bench_privacy"),
    "privacy_proposals": ("evaluation._bench_accuracy", "bench_privacy_proposals"),
    "query_latency": ("evaluation._bench_query", "bench_query_latency"),
    "index_updates": ("evaluation._bench_index", "bench_index_updates"),
    "registry_writes": ("evaluation._bench_registry", "bench_registry_writes"),
    "clustering": ("evaluation._bench_cluster", "bench_clustering"),
    "load": ("evaluation._bench_load", "bench_load"),
    "load_postgresql": ("evaluation._bench_load", "bench_load_postgresql"),
    "sealing": ("evaluation._bench_sealing", "bench_sealing"),
    "fuzz": ("evaluation._bench_fuzz", "bench_fuzz"),
    "light_install": ("evaluation._light_install", "bench_light_install"),
    "families": ("evaluation._bench_families", "bench_families"),
    "families_recall": ("evaluation._bench_familyrecall", "bench_families_recall"),
    "review_band": ("evaluation._review_band", "bench_review_band"),
    "review_learning": ("evaluation._review_learning", "bench_review_learning"),
    "startup": ("evaluation._bench_startup", "bench_startup"),
}


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB), in GiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def machine_info() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "system": platform.platform(terse=True),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "autogroup_scheduling": _autogroup(),
    }


def _autogroup() -> bool | None:
    """Linux's autogroup scheduling, on (True) or off; None where the kernel has none. When
    on, a neighbour's ``nice 19`` only ranks it within its own session: it still takes an
    equal share of the cores from the benchmark unless its session group is reniced
    (``echo 19 > /proc/PID/autogroup``)."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def run_benchmarks(
    out: Path, only: list[str] | None = None, on_section: Callable[[str], None] | None = None
) -> dict[str, Any]:
    names = only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(
            f"unknown benchmark section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}"
        )
    results: dict[str, Any] = {}
    for name in names:
        if on_section is not None:
            on_section(name)
        module, func = SECTIONS[name]
        figures = getattr(import_module(module), func)()
        figures["machine"] = machine_info()
        figures["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        # the file as it is now, with this section replaced: a section may take many
        # minutes, and the file may have changed meanwhile (another bench, a checkout)
        results = json.loads(out.read_text()) if out.exists() else {}
        results[name] = figures
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return results
