"""A key's usage per day (``services.key_usage``) drawn as bars, on the server.

The page's CSP allows no inline style, so the bars are an inline SVG whose rectangles carry
their geometry as attributes (colours come from console.css). The same numbers are written
out for people who cannot see the chart: a sentence, and a table.
"""

from __future__ import annotations

from dataclasses import dataclass

from outter_auth.services.key_usage import DayUsage

WIDTH = 600  # the viewBox: the SVG scales to its box
HEIGHT = 120
GAP = 2


@dataclass(frozen=True)
class Bar:
    day: DayUsage
    x: float
    width: float
    verified_y: float
    verified_height: float
    refused_y: float
    refused_height: float


@dataclass(frozen=True)
class UsageChart:
    days: list[DayUsage]
    bars: list[Bar]
    total_verified: int
    total_refused: int
    busiest: DayUsage | None
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def total(self) -> int:
        return self.total_verified + self.total_refused

    def summary(self) -> str:
        """The chart in one sentence."""
        span = f"the last {len(self.days)} days"
        if not self.total:
            return f"No requests with this key in {span}."
        requests = "request" if self.total == 1 else "requests"
        text = f"{self.total:,} {requests} in {span}: {self.total_verified:,} let in, {self.total_refused:,} refused."
        if self.busiest is not None:
            busiest = self.busiest.verified + self.busiest.refused
            text += f" Busiest day: {self.busiest.date:%d %B %Y} (UTC), with {busiest:,}."
        return text


def chart(days: list[DayUsage]) -> UsageChart:
    """Stacked bars (verified below, refused on top), the tallest day filling the height."""
    tallest = max((d.verified + d.refused for d in days), default=0)
    scale = HEIGHT / tallest if tallest else 0.0
    slot = WIDTH / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        verified_height = day.verified * scale
        refused_height = day.refused * scale
        verified_y = HEIGHT - verified_height
        bars.append(
            Bar(
                day,
                x=round(index * slot + GAP / 2, 2),
                width=round(max(slot - GAP, 1), 2),
                verified_y=round(verified_y, 2),
                verified_height=round(verified_height, 2),
                refused_y=round(verified_y - refused_height, 2),
                refused_height=round(refused_height, 2),
            )
        )
    busiest = max(days, key=lambda d: d.verified + d.refused, default=None) if tallest else None
    return UsageChart(
        days=days,
        bars=bars,
        total_verified=sum(d.verified for d in days),
        total_refused=sum(d.refused for d in days),
        busiest=busiest,
    )
