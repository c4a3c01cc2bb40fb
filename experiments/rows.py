"""Per-model result rows of the field-set experiments: kept in the JSON report and printed as they come."""

from __future__ import annotations


def add_model_rows(report: dict, folder: str, rows: dict[str, dict]) -> None:
    report.setdefault("models", {})[folder] = rows
    print(folder)
    for name, row in rows.items():
        print(f"  {name:10s} {row}")
