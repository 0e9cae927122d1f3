"""evaluation: datasets, metrics, baselines, benchmarks and the demo. Nothing imports it.

Names are imported on first use (PEP 562), so the ``caselink`` command does not load
matplotlib, recordlinkage and the attacks before it runs a service or an admin command.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {  # public name -> (module, attribute): imported on first use
    "AttributeExposure": ("evaluation._attack_attr", "AttributeExposure"),
    "DEFAULT_TRADITION_MIX": ("evaluation._synthetic", "DEFAULT_TRADITION_MIX"),
    "FamilyRecall": ("evaluation._family_metrics", "FamilyRecall"),
    "FamilyScores": ("evaluation._family_metrics", "FamilyScores"),
    "HARDENING_SETTINGS": ("evaluation._attack", "HARDENING_SETTINGS"),
    "HOUSEHOLD_COLUMNS": ("evaluation._households_synth", "HOUSEHOLD_COLUMNS"),
    "HOUSEHOLD_ROLES": ("evaluation._households_synth", "ROLES"),
    "HouseholdData": ("evaluation._households_synth", "HouseholdData"),
    "HouseholdRegistration": ("evaluation._households_synth", "HouseholdRegistration"),
    "HouseholdShape": ("evaluation._households_synth", "HouseholdShape"),
    "Messiness": ("evaluation._synthetic", "Messiness"),
    "MultiAgencyData": ("evaluation._datasets", "MultiAgencyData"),
    "PairwiseScores": ("evaluation._metrics", "PairwiseScores"),
    "RelatedPairPrecision": ("evaluation._family_metrics", "RelatedPairPrecision"),
    "SoughtFamilies": ("evaluation._tracing", "SoughtFamilies"),
    "SyntheticData": ("evaluation._synthetic", "SyntheticData"),
    "TRACER_MESSINESS": ("evaluation._tracing", "TRACER_MESSINESS"),
    "TRADITIONS": ("evaluation._synthetic", "TRADITIONS"),
    "TwoAgencyData": ("evaluation._datasets", "TwoAgencyData"),
    "attribute_exposure": ("evaluation._attack_attr", "attribute_exposure"),
    "attribute_truth": ("evaluation._attack_attr", "attribute_truth"),
    "baseline_link": ("evaluation._baseline", "baseline_link"),
    "baseline_scores": ("evaluation._baseline", "baseline_scores"),
    "bcubed": ("evaluation._metrics", "bcubed"),
    "expected_calibration_error": ("evaluation._metrics", "expected_calibration_error"),
    "family_recall": ("evaluation._family_metrics", "family_recall"),
    "family_scores": ("evaluation._family_metrics", "family_scores"),
    "frequency_attack": ("evaluation._attack", "frequency_attack"),
    "generate_households": ("evaluation._households_synth", "generate_households"),
    "generate_synthetic": ("evaluation._synthetic", "generate"),
    "graph_attack": ("evaluation._attack", "graph_attack"),
    "load_febrl3_agencies": ("evaluation._datasets", "load_febrl3_agencies"),
    "load_febrl4": ("evaluation._datasets", "load_febrl4"),
    "members_found": ("evaluation._family_metrics", "members_found"),
    "name_table": ("evaluation._synthetic", "name_table"),
    "pairwise_scores": ("evaluation._metrics", "pairwise_scores"),
    "pareto_front": ("evaluation._privacy_pareto", "pareto_front"),
    "privacy_bench": ("evaluation._privacy_bench", "privacy_bench"),
    "privacy_settings": ("evaluation._privacy_settings", "privacy_settings"),
    "privacy_table": ("evaluation._attack", "privacy_table"),
    "related_pair_precision": ("evaluation._family_metrics", "related_pair_precision"),
    "reliability_table": ("evaluation._metrics", "reliability_table"),
    "run_demo": ("evaluation._demo", "run_demo"),
    "service_similarities": ("evaluation._attack_attr", "service_similarities"),
    "similarity_exposure": ("evaluation._attack_attr", "similarity_exposure"),
    "sought_families": ("evaluation._tracing", "sought_families"),
    "variant_table": ("evaluation._synthetic", "variant_table"),
}

__all__ = [
    "AttributeExposure",
    "DEFAULT_TRADITION_MIX",
    "FamilyRecall",
    "FamilyScores",
    "HARDENING_SETTINGS",
    "HOUSEHOLD_COLUMNS",
    "HOUSEHOLD_ROLES",
    "HouseholdData",
    "HouseholdRegistration",
    "HouseholdShape",
    "Messiness",
    "MultiAgencyData",
    "PairwiseScores",
    "RelatedPairPrecision",
    "SoughtFamilies",
    "SyntheticData",
    "TRACER_MESSINESS",
    "TRADITIONS",
    "TwoAgencyData",
    "attribute_exposure",
    "attribute_truth",
    "baseline_link",
    "baseline_scores",
    "bcubed",
    "expected_calibration_error",
    "family_recall",
    "family_scores",
    "frequency_attack",
    "generate_households",
    "generate_synthetic",
    "graph_attack",
    "load_febrl3_agencies",
    "load_febrl4",
    "members_found",
    "name_table",
    "pairwise_scores",
    "pareto_front",
    "privacy_bench",
    "privacy_settings",
    "privacy_table",
    "related_pair_precision",
    "reliability_table",
    "run_demo",
    "service_similarities",
    "similarity_exposure",
    "sought_families",
    "variant_table",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
