"""Print the demo's result: task states, the import summary and the first lines of the failures file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlparse


def main(result_path: Path, log_path: Path) -> int:
    if not result_path.exists():
        print(f"The DAG run did not finish; last lines of {log_path}:")
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-30:]))
        return 1
    result = json.loads(result_path.read_text())
    print(f"   run {result['run_id']}: {result['state']}")
    for task_id, state in result["tasks"].items():
        print(f"   {task_id:<18} {state}")
    summary = result["xcoms"].get("wait_for_import", {}).get("return_value")
    if not summary:
        print(f"No import summary; see {log_path}")
        return 1
    print("== import summary")
    for label, key in [
        ("rows sent", "rows_sent"),
        ("rows imported", "rows_processed"),
        ("rows failed", "rows_failed"),
        ("rows with warning", "rows_with_warning"),
    ]:
        print(f"   {label:<18} {summary.get(key)}")
    for batch in summary["batches"]:
        print(f"   batch {batch['batch_id']}: {batch['status']}: {batch['message']}")
        print(f"     failure reasons  {batch['failure_reasons']}")
        print(f"     warning reasons  {batch['warning_reasons']}")
        print(f"     failures file    {batch['failures_path']}")
        print(f"     warnings file    {batch['warnings_path']}")
    first = next((b["failures_path"] for b in summary["batches"] if b["failures_path"]), None)
    if first:
        local = Path(urlparse(first).path) if first.startswith("file:") else Path(first)
        print(f"== first lines of {local}")
        with open(local, encoding="utf-8") as f:
            for _, line in zip(range(6), f, strict=False):
                print("   " + line.rstrip("\n"))
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
