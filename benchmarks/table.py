"""The results table: rows as an aligned Markdown table (``run.py`` and every ``bench_*.py`` print it)."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.harness import Row

COLUMNS = ("benchmark", "metric", "ours", "baseline", "ratio", "target", "met")


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if float(value).is_integer() or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _cells(r: Row) -> list[str]:
    ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x" if r["ratio"] >= 0.1 else f"{r['ratio']:.2g}x"
    return [
        r["benchmark"],
        r["metric"],
        _number(r["ours"], r["unit"]),
        _number(r["baseline"], r["unit"]),
        ratio,
        r["target"] or "-",
        r["met"] or "-",
    ]


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned Markdown table, followed by the notes of the rows that have one."""
    lines = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]

    def render(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [render(lines[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [render(cells) for cells in lines[1:]]
    notes = [f"- {r['benchmark']}, {r['metric']}: {r['note']}" for r in rows if r["note"]]
    if notes:
        out += ["", "Notes (ratio = ours / baseline):", *notes]
    return "\n".join(out)


def print_table(rows: Sequence[Row]) -> None:
    print(table(rows), flush=True)
