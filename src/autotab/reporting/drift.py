"""How far new data has moved from the training data: per cleaned column, against the reference
profile the data contract keeps (`autotab.data.profile`).

- The population stability index (PSI, `profile.psi`) over the column's bins (deciles of the
  training values, or its levels) and a bin for missing values, each share at least 1e-4. The
  usual reading: under 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a large one. A column
  at or above `psi_alert` has drifted.
- A chi-squared test of the two samples' counts over the same bins (scipy's `chi2_contingency`):
  with thousands of rows it finds shifts too small to matter, so it is evidence, and PSI, an effect
  size, decides.
- The change in the share of missing values, the share of values outside the training range
  (numeric), and of categories never seen in training (categorical).

Computed here with scipy: a drift library (Evidently) would bring some twenty-five packages, a web
server among them, for these few lines.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from autotab.data.contract import CleanedColumn, DataContract
from autotab.data.profile import OTHER, UNSEEN, bin_codes, bin_names, psi, reference_shares, shares_of


def column_drift(values: pd.Series, column: CleanedColumn) -> dict[str, Any]:
    profile = column.profile
    reference = reference_shares(profile)
    codes = bin_codes(values, profile)
    new = shares_of(codes, len(reference))
    counts = np.vstack([reference * profile.rows, new * len(values)])
    counts = counts[:, counts.sum(axis=0) > 0]
    p_value = float(chi2_contingency(counts).pvalue) if counts.shape[1] > 1 else 1.0
    result = {"psi": round(float(psi(reference, new)), 6), "p_value": round(p_value, 6)}
    present = values.dropna()
    if profile.edges is not None and column.min is not None:
        numbers = present.to_numpy(dtype=float)
        outside = (numbers < column.min) | (numbers > column.max)
        result["out_of_range_share"] = round(float(outside.mean()), 6) if len(numbers) else 0.0
    elif profile.levels is not None and OTHER not in profile.levels:
        unseen = bin_names(profile).index(UNSEEN)
        result["unseen_share"] = round(float((codes == unseen).sum() / max(len(present), 1)), 6)
    result["missing_share_change"] = round(float(values.isna().mean()) - profile.missing, 6)
    return result


def compare(cleaned: pd.DataFrame, contract: DataContract, *, psi_alert: float, sources: dict[str, str]) -> dict:
    """The drift of every profiled column of `cleaned` (new raw rows, cleaned as in training),
    largest PSI first. `sources`: each cleaned column's raw column."""
    columns = {}
    for column in contract.cleaned:
        if column.profile is None:
            continue
        result = column_drift(cleaned[column.name], column)
        columns[column.name] = {"source": sources.get(column.name, column.name), **result,
                                "drifted": result["psi"] >= psi_alert}  # fmt: skip
    ranked = dict(sorted(columns.items(), key=lambda item: (-item[1]["psi"], item[0])))
    return {
        "rows": len(cleaned),
        "reference_rows": next((c.profile.rows for c in contract.cleaned if c.profile), 0),
        "psi_alert": psi_alert,
        "drifted": [name for name, result in ranked.items() if result["drifted"]],
        "columns": ranked,
    }


def page(report: dict, source: str) -> str:
    """A self-contained HTML page of the report: no script, nothing fetched."""
    alert = report["psi_alert"]
    rows = []
    for name, result in report["columns"].items():
        width = min(result["psi"] / max(2 * alert, 1e-9), 1.0) * 100
        optional = [f"{result[key]:.4f}" if key in result else "" for key in ("out_of_range_share", "unseen_share")]
        rows.append(
            f'<tr class="{"drifted" if result["drifted"] else ""}"><td>{html.escape(name)}</td>'
            f"<td>{html.escape(result['source'])}</td>"
            f'<td class="n">{result["psi"]:.4f}<div class="bar" style="width:{width:.0f}%"></div></td>'
            f'<td class="n">{result["p_value"]:.4g}</td><td class="n">{result["missing_share_change"]:+.4f}</td>'
            + "".join(f'<td class="n">{cell}</td>' for cell in optional)
            + "</tr>"
        )
    verdict = (f"{len(report['drifted'])} of {len(report['columns'])} columns drifted (PSI &ge; {alert:g}): "
               + html.escape(", ".join(report["drifted"])) if report["drifted"]
               else f"No column drifted (PSI &lt; {alert:g} for all {len(report['columns'])}).")  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>autotab drift: {html.escape(source)}</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: left; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; min-width: 6em; }}
tr.drifted td {{ background: #fde8e8; }} .bar {{ height: 4px; background: #c0392b; margin-top: 2px; }}
</style></head><body>
<h1>Drift of {html.escape(source)} against the training data</h1>
<p>{report["rows"]} new rows against {report["reference_rows"]} training rows. {verdict}</p>
<p>PSI: population stability index over the training deciles (or levels) and missing values; under 0.1
stable, above 0.25 a large shift. p: chi-squared test of the same bins.</p>
<table><thead><tr><th>cleaned column</th><th>raw column</th><th>PSI</th><th>p</th><th>missing share change</th>
<th>outside the training range</th><th>unseen categories</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
