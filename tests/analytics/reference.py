"""An independent computation of the PMA matrix from raw answers, with pandas and scipy.

It shares no code with citela_analytics: means and standard deviations by pandas, intervals
by ``scipy.stats.t.interval``, the paired gap from each answer, quadrants, statuses and
priorities from the written definitions.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy import stats  # type: ignore[import-untyped]

ORDER = {"act_first": 0, "keep_up": 1, "secondary": 2, "over_investment": 3}


def _interval(values: pd.Series) -> tuple[float | None, float | None, float | None]:
    n = len(values)
    if n < 2:
        return None, None, None
    sd = float(values.std(ddof=1))
    if sd == 0:
        mean = float(values.mean())
        return sd, mean, mean
    low, high = stats.t.interval(0.95, n - 1, loc=float(values.mean()), scale=sd / math.sqrt(n))
    return sd, float(low), float(high)


def _describe(values: pd.Series) -> dict[str, float | None]:
    sd, low, high = _interval(values)
    return {"mean": float(values.mean()), "sd": sd, "ci_low": low, "ci_high": high}


def reference_matrix(
    answers: pd.DataFrame,
    *,
    mode: str = "grand_means",
    min_answers: int = 10,
) -> dict[tuple[str, str], dict[str, Any]]:
    """answers: columns entry, label, area, importance, satisfaction (one row per answer)."""
    if answers.empty:
        return {}
    answers = answers.assign(gap=answers["importance"] - answers["satisfaction"])
    if mode == "midpoint":
        cross_i = cross_s = 3.0
    else:
        cross_i = float(answers["importance"].mean())
        cross_s = float(answers["satisfaction"].mean())
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for scope, column in (("service", "entry"), ("area", "area")):
        frame = answers if scope == "service" else answers.dropna(subset=["area"])
        rows: list[dict[str, Any]] = []
        for key, group in frame.groupby(column, sort=True):
            imp = _describe(group["importance"])
            sat = _describe(group["satisfaction"])
            gap = _describe(group["gap"])
            n = len(group)
            label = str(group["label"].iloc[0]) if scope == "service" else str(key)
            if n < min_answers:
                quadrant, status, straddled = None, "not_enough_answers", []
            else:
                hi_i = imp["mean"] >= cross_i  # type: ignore[operator]
                hi_s = sat["mean"] >= cross_s  # type: ignore[operator]
                quadrant = (
                    ("keep_up" if hi_s else "act_first")
                    if hi_i
                    else ("over_investment" if hi_s else "secondary")
                )
                straddled = [
                    axis
                    for axis, est, cross in (
                        ("importance", imp, cross_i),
                        ("satisfaction", sat, cross_s),
                    )
                    if est["ci_low"] <= cross <= est["ci_high"]  # type: ignore[operator]
                ]
                status = "uncertain" if straddled else "clear"
            rows.append(
                {
                    "scope": scope,
                    "key": str(key),
                    "label": label,
                    "n": n,
                    "importance": imp,
                    "satisfaction": sat,
                    "gap": gap,
                    "quadrant": quadrant,
                    "status": status,
                    "straddled": straddled,
                }
            )
        ranked = sorted(
            (r for r in rows if r["quadrant"] is not None),
            key=lambda r: (
                ORDER[r["quadrant"]],
                -r["gap"]["mean"],
                -r["n"],
                r["label"].casefold(),
                r["key"],
            ),
        )
        for i, r in enumerate(ranked, start=1):
            r["priority"] = i
        for r in rows:
            r.setdefault("priority", None)
            out[(scope, r["key"])] = r
    out[("crosshairs", "")] = {
        "importance": cross_i,
        "satisfaction": cross_s,
        "grand_importance": float(answers["importance"].mean()),
        "grand_satisfaction": float(answers["satisfaction"].mean()),
        "n": len(answers),
    }
    return out
