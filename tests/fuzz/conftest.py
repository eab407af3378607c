"""Schema fuzzing support: a session-wide tally of what was sent, shown in pytest's summary."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest


@dataclass
class FuzzStats:
    """Requests sent per operation, by generation mode and by status code; how many of them
    went with the owner's or client's working credential and got past 401 ("authorized")."""

    operations: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    renewed: Counter[str] = field(default_factory=Counter)
    aimed: Counter[str] = field(default_factory=Counter)
    authorized: Counter[str] = field(default_factory=Counter)  # sent with a working credential, not refused
    checks: defaultdict[str, Counter[bool]] = field(default_factory=lambda: defaultdict(Counter))  # name -> passed?
    started: float | None = None
    finished: float | None = None

    def record(self, label: str, mode: str, status: int) -> None:
        now = time.perf_counter()
        self.started = now if self.started is None else self.started
        self.finished = now
        self.calls[label] += 1
        self.modes[mode] += 1
        self.statuses[label][status] += 1

    def checked(self, check: str, passed: bool) -> None:
        self.checks[check][passed] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def summary(self) -> list[str]:
        elapsed = (self.finished or 0.0) - (self.started or 0.0)
        modes = ", ".join(f"{n} {mode}" for mode, n in sorted(self.modes.items()))
        lines = [
            f"{len(self.calls)} of {len(self.operations)} operations fuzzed: "
            f"{self.total} requests ({modes}) in {elapsed:.1f} s"
        ]
        for label in sorted(self.operations, key=lambda op: (op.split(" ", 1)[-1], op)):
            statuses = " ".join(f"{code}x{n}" for code, n in sorted(self.statuses[label].items()))
            authorized = f"({self.authorized[label]} authorized)" if self.authorized[label] else ""
            lines.append(f"  {label:<50} {self.calls[label]:>5} {authorized:<17} {statuses}")
        lines.append(f"cases aimed at a real id: {sum(self.aimed.values())}")
        lines += self.check_summary()
        lines += [
            f"credential destroyed by a case and renewed: {what} x{n}" for what, n in sorted(self.renewed.items())
        ]
        return lines

    def check_summary(self) -> list[str]:
        """Each check schemathesis ran, as its own command line sums them up."""
        failed = sum(outcomes[False] for outcomes in self.checks.values())
        lines = [f"checks: {sum(sum(o.values()) for o in self.checks.values())} run, {failed} failed"]
        for name, outcomes in sorted(self.checks.items()):
            total = outcomes[True] + outcomes[False]
            verdict = "PASSED" if not outcomes[False] else "FAILED"
            lines.append(f"  {name:<40} {outcomes[True]:>5} / {total:<5} passed   {verdict}")
        return lines


STATS = FuzzStats()


@pytest.fixture(scope="session")
def fuzz_stats() -> FuzzStats:
    return STATS


@pytest.fixture(autouse=True)
def _schemathesis_pytest_9_2(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's ``from_fixture`` reads and relabels ``item._nodeid``, which pytest
    9.2 no longer has (AttributeError before any case runs); give it one. It only renames
    the per-operation subtests in reports; pytest's own node id is left alone."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if STATS.total:
        terminalreporter.write_sep("-", "schema fuzzing (schemathesis)")
        for line in STATS.summary():
            terminalreporter.write_line(line)
