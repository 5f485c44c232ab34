"""The holdout check as a user reads it: a markdown table with bars (Dagster metadata) and a PNG
chart (predicted vs actual repeat purchases per decile). Reads a marts.prediction_fits row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BAR = 30  # characters of the longest bar


def holdout_markdown(row: dict[str, Any]) -> str:
    if row.get("holdout_error"):
        return f"**No holdout check**: {row['holdout_error']}"
    deciles = json.loads(row["holdout_deciles"])
    top = max([1.0] + [max(d["predicted"], d["actual"]) for d in deciles])
    pred, act = float(row["holdout_predicted"]), int(row["holdout_actual"])
    gap = (pred - act) / act * 100 if act else float("nan")
    lines = [
        f"Fitted on purchases up to **{str(row['holdout_cutoff'])[:10]}**, predicting the next "
        f"{row['holdout_weeks']} weeks for {row['holdout_people']:,} people: "
        f"**{pred:,.0f} predicted vs {act:,} actual** repeat purchase days ({gap:+.1f} %).",
        "",
        "| decile (10 = most expected) | people | predicted | actual | predicted ▇ / actual ░ |",
        "|---:|---:|---:|---:|:---|",
    ]
    for d in deciles:
        bars = "▇" * round(d["predicted"] / top * BAR) + "<br>" + "░" * round(d["actual"] / top * BAR)
        lines.append(
            f"| {d['decile']} | {d['people']:,} | {d['predicted']:,.1f} | {d['actual']:,} | {bars} |"
        )
    return "\n".join(lines)


def holdout_png(row: dict[str, Any], path: Path) -> Path | None:
    """Grouped bars per decile (matplotlib, Agg); None when there is no holdout check."""
    if row.get("holdout_error") or not row.get("holdout_deciles"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deciles = json.loads(row["holdout_deciles"])
    k = [d["decile"] for d in deciles]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([x - 0.2 for x in k], [d["predicted"] for d in deciles], width=0.4, label="predicted")
    ax.bar([x + 0.2 for x in k], [d["actual"] for d in deciles], width=0.4, label="actual")
    ax.set_xticks(k)
    ax.set_xlabel("decile of the prediction (10 = most expected purchases)")
    ax.set_ylabel("repeat purchase days")
    ax.set_title(
        f"Holdout {str(row['holdout_cutoff'])[:10]} + {row['holdout_weeks']} weeks: BG/NBD vs actual"
    )
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
