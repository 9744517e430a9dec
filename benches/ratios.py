#!/usr/bin/env python3
# ruff: noqa: RUF001, RUF002  -- the table is typeset for people (en dashes, multiplication signs)
"""Print sealbox-vs-anchor ratios from a pytest-benchmark JSON file.

    python benches/ratios.py RESULTS.json

RESULTS.json comes from ``pytest benches --benchmark-json=RESULTS.json``.
For every benchmark group it pairs the sealbox row with each anchor row and
prints, per call: the sealbox median, the anchor median (each with the min–max
of all rounds), and the ratio

    speedup = anchor median / sealbox median

so 1.30× means sealbox takes 1/1.30 of the anchor's time per call (for the
1 MiB rows it is the ratio of throughputs). The ratio is taken within each
pass (sealbox and anchor ran back to back) and the median over passes is the
headline figure; "per pass" shows the lowest and highest of them, which tells
how far to trust it. The time columns pool the rounds of all passes. "best
rounds" is the ratio of the fastest rounds, a cross-check on a busy machine
(contention only ever adds time); targets are judged on the medians.

A missed target is reported, never turned into an exit status: the exit status
is 0 unless the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from typing import Any


def _fmt_time(seconds: float) -> str:
    us = seconds * 1e6
    if us >= 100:
        return f"{us:.0f}"
    if us >= 10:
        return f"{us:.1f}"
    return f"{us:.2f}"


def _fmt_cell(samples: list[float], size: int, rows: int = 1) -> str:
    med = statistics.median(samples)
    cell = f"{_fmt_time(med)} µs ({_fmt_time(min(samples))}–{_fmt_time(max(samples))})"
    if rows > 1:
        cell += f", {1 / med / 1e6:.2f} M rows/s"
    if size >= 64 * 1024:
        cell += f", {size / med / 1e9:.2f} GB/s"
    return cell


class Row:
    """All rounds of one implementation within one group, over every pass."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.group: str = extra["group"]
        self.impl: str = extra["impl"]
        self.role: str = extra["role"]
        self.size: int = int(extra.get("size") or 0)
        # Batch rows time a whole batch per call; their samples are per row.
        self.rows: int = int(extra.get("rows") or 1)
        self.target: float | None = extra.get("target")
        self.target_id: str | None = extra.get("target_id")
        self.by_pass: dict[int, list[float]] = defaultdict(list)

    def add(self, bench_pass: int, samples: list[float]) -> None:
        self.by_pass[bench_pass].extend(samples)

    @property
    def samples(self) -> list[float]:
        return [s for p in sorted(self.by_pass) for s in self.by_pass[p]]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def _samples(bench: dict[str, Any]) -> list[float]:
    stats = bench.get("stats") or {}
    data = stats.get("data")
    if data:
        return [float(x) for x in data]
    # Saved without raw data: fall back to the summary statistics.
    return [float(stats[k]) for k in ("min", "median", "max") if k in stats]


def load(path: str) -> tuple[dict[str, Any], list[str], dict[str, list[Row]]]:
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    meta = doc.get("sealbox_bench") or {}
    order: list[str] = []
    groups: dict[str, list[Row]] = {}
    for bench in doc.get("benchmarks", []):
        extra = bench.get("extra_info") or {}
        if "group" not in extra or "role" not in extra:
            continue  # not one of ours
        samples = [s / int(extra.get("rows") or 1) for s in _samples(bench)]
        if not samples:
            continue
        rows = groups.setdefault(extra["group"], [])
        if extra["group"] not in order:
            order.append(extra["group"])
        row = next((r for r in rows if r.impl == extra["impl"]), None)
        if row is None:
            row = Row(extra)
            rows.append(row)
        row.add(int(extra.get("bench_pass", 0)), samples)
    return meta, order, groups


def _status(ratio: float, per_pass: list[float], target: float | None) -> str:
    if target is None:
        return "info"
    passes = f", {sum(r >= target for r in per_pass)}/{len(per_pass)} passes" if per_pass else ""
    if ratio >= target:
        return f"met ({ratio / target - 1:+.0%} margin{passes})"
    return f"NOT met ({1 - ratio / target:.1%} short{passes})"


def build_table(
    order: list[str], groups: dict[str, list[Row]], skipped: list[dict[str, Any]]
) -> tuple[list[list[str]], list[str]]:
    table: list[list[str]] = []
    notes: list[str] = []
    skipped_by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in skipped:
        skipped_by_group[s["group"]].append(s)
    for g in skipped_by_group:
        if g not in order:
            order.append(g)

    for group in order:
        rows = groups.get(group, [])
        sealbox = [r for r in rows if r.role == "sealbox"]
        anchors = [r for r in rows if r.role != "sealbox"]
        if not sealbox:
            if rows:
                notes.append(f"{group}: no sealbox row measured, anchors not paired")
            for s in skipped_by_group.get(group, []):
                notes.append(f"{group}: {s['impl']} skipped: {s['reason']}")
            continue
        sb = sealbox[0]
        for an in anchors:
            passes = sorted(set(sb.by_pass) & set(an.by_pass))
            per_pass = [statistics.median(an.by_pass[p]) / statistics.median(sb.by_pass[p]) for p in passes]
            # Rows of one pass ran seconds apart; different passes may not have
            # (a busy neighbour, a frequency change), so the per-pass ratios
            # are the robust ones and the headline is their median.
            ratio = statistics.median(per_pass) if per_pass else an.median / sb.median
            spread = f"{min(per_pass):.2f}–{max(per_pass):.2f}" if len(per_pass) > 1 else "–"
            best = min(an.samples) / min(sb.samples)
            target = f"≥ {an.target:g}× ({an.target_id})" if an.target is not None else ""
            table.append(
                [
                    group,
                    sb.impl,
                    an.impl,
                    _fmt_cell(sb.samples, sb.size, sb.rows),
                    _fmt_cell(an.samples, an.size, an.rows),
                    f"{ratio:.2f}×",
                    spread,
                    f"{best:.2f}×",
                    target,
                    _status(ratio, per_pass, an.target),
                ]
            )
        for s in skipped_by_group.get(group, []):
            target = f"≥ {s['target']:g}× ({s['target_id']})" if s.get("target") else ""
            cells = [group, sb.impl, s["impl"], _fmt_cell(sb.samples, sb.size), "–", "–", "–", "–"]
            table.append([*cells, target, f"skipped: {s['reason']}"])
        if not anchors and not skipped_by_group.get(group):
            notes.append(f"{group}: sealbox row measured, no anchor in this run")
    return table, notes


HEADER = [
    "workload",
    "sealbox row",
    "anchor",
    "sealbox per call, median (min–max)",
    "anchor per call, median (min–max)",
    "speedup",
    "per pass",
    "best rounds",
    "target",
    "status",
]


def render(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *table]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in table]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    args = parser.parse_args(argv)

    try:
        meta, order, groups = load(args.json)
    except (OSError, ValueError) as exc:
        print(f"ratios.py: cannot read {args.json}: {exc}", file=sys.stderr)
        return 2

    mode = meta.get("mode") or {}
    build = meta.get("sealbox") or {}
    print(
        f"sealbox {build.get('version', '?')} from {build.get('native_module', '?')}"
        f" (built {build.get('native_module_mtime', '?')})"
    )
    anchors = ", ".join(f"{k} {v}" for k, v in (meta.get("anchors") or {}).items() if v)
    if anchors:
        print(f"anchors: {anchors}")
    if mode:
        print(
            f"mode {mode.get('name')}: {mode.get('passes')} passes x {mode.get('rounds')} rounds"
            " per row; times are per call;"
            " speedup = median over passes of (anchor median / sealbox median)"
        )
    if meta.get("loadavg_start") is not None:
        print(f"load average at start {meta['loadavg_start']}, at end {meta.get('loadavg_end')}")
    print()

    table, notes = build_table(order, groups, meta.get("skipped") or [])
    if table:
        print(render(table))
    else:
        print("(no paired rows in this file)")
    for note in notes:
        print(f"note: {note}")

    with_target = [r for r in table if r[8] and not r[9].startswith("skipped")]
    missed = [r for r in with_target if r[9].startswith("NOT")]
    print()
    print(
        f"targets: {len(with_target) - len(missed)} of {len(with_target)} met"
        + (f"; missed: {', '.join(f'{r[8]} vs {r[2]}' for r in missed)}" if missed else "")
        + " (informational; this script never fails on a missed target)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
