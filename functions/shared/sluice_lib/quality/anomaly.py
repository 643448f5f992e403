"""The row-count anomaly statistic: a robust band around the median of recent successful runs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

MAD_TO_SIGMA = 1.4826  # MAD x 1.4826 estimates the standard deviation of normally distributed counts


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    median: float
    mad: float
    runs: int

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def describe(self) -> str:
        return (
            f"between {self.low:,.0f} and {self.high:,.0f} "
            f"(median {self.median:,.0f}, MAD {self.mad:,.0f} of the last {self.runs} successful runs)"
        )


def expected_band(history: list[int], *, max_deviations: float, tolerance: float) -> Band:
    """median ± max(max_deviations × 1.4826 × MAD, tolerance × median) of `history` (not empty).

    Why the median and the median absolute deviation, not the mean and the standard deviation: the history is
    short (ten runs by default) and one odd run in it (a backfill, a half-day file) would drag the mean and
    inflate the standard deviation until nothing is flagged; the median and MAD ignore it (the modified z-score
    of Iglewicz and Hoaglin, who suggest flagging beyond 3.5). Why the relative floor: files of steady size
    have a MAD of 0, and a band of zero width would flag a file one row larger than the last.
    """
    median = float(statistics.median(history))
    mad = float(statistics.median(abs(h - median) for h in history))
    half = max(max_deviations * MAD_TO_SIGMA * mad, tolerance * median)
    return Band(low=max(median - half, 0.0), high=median + half, median=median, mad=mad, runs=len(history))
