"""A per-marker summary at the end of every run: what ran and what skipped (and why), per marker.

    marker   passed failed skipped  skip reasons
    cluster      12      0       0
    docker        0      0      14  no Docker engine reachable (...)
"""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest

MARKERS = ("spark", "cluster", "hdfs", "docker", "k8s", "(none)")
_counts: dict[str, Counter] = defaultdict(Counter)
_reasons: dict[str, Counter] = defaultdict(Counter)


def _markers(item: pytest.Item) -> list[str]:
    names = [m.name for m in item.iter_markers() if m.name in MARKERS]
    return sorted(set(names)) or ["(none)"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for name in _markers(item):
            _counts[name][report.outcome] += 1
            if report.skipped:
                reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                _reasons[name][reason.removeprefix("Skipped: ")[:90]] += 1


def pytest_terminal_summary(terminalreporter) -> None:
    if not _counts:
        return
    tr = terminalreporter
    tr.section("per marker")
    tr.write_line(f"{'marker':<8} {'passed':>6} {'failed':>6} {'skipped':>7}  skip reasons")
    for name in MARKERS:
        c = _counts.get(name)
        if not c:
            continue
        why = "; ".join(f"{r} (x{n})" for r, n in _reasons[name].most_common(2))
        tr.write_line(f"{name:<8} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7}  {why}")
