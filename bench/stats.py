"""Summaries of samples and ratios against a baseline.

A ratio is always *cost of the thing measured / cost of its baseline* (1.0 = as cheap as the
floor). Its spread comes from rounds: each round measures both sides back to back, so drift
on a shared machine moves both, and the per-round ratios show how stable the result is.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in [0, 1]) of a non-empty sample."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summary(samples: Sequence[float], *, scale: float = 1.0) -> dict[str, Any]:
    """Median, p99, IQR and count of ``samples`` (each multiplied by ``scale``)."""
    scaled = [value * scale for value in samples]
    return {
        "n": len(scaled),
        "p50": statistics.median(scaled),
        "p99": percentile(scaled, 0.99),
        "p25": percentile(scaled, 0.25),
        "p75": percentile(scaled, 0.75),
        "min": min(scaled),
        "max": max(scaled),
    }


def ratio(per_round: Sequence[float]) -> dict[str, Any]:
    """A ratio from per-round ratios: their median and spread (min, max)."""
    if not per_round:
        raise ValueError("no rounds")
    return {
        "median": statistics.median(per_round),
        "spread": [min(per_round), max(per_round)],
        "rounds": list(per_round),
    }


def round_ratios(
    measured: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]], fraction: float = 0.5
) -> dict[str, Any]:
    """Ratio of the ``fraction`` percentile of ``measured`` to that of ``baseline``, per round."""
    return ratio(
        [
            percentile(m, fraction) / percentile(b, fraction)
            for m, b in zip(measured, baseline, strict=True)
        ]
    )


def flatten(rounds: Sequence[Sequence[float]]) -> list[float]:
    return [value for samples in rounds for value in samples]
