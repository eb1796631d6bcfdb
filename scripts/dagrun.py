"""Run one DAG of ``$AIRFLOW__CORE__DAGS_FOLDER`` with ``dag.test()`` and write what happened as JSON.

Usage: ``python scripts/dagrun.py DAG_ID --out result.json [--conf '{"rows": 10}'] [--log run.log]``.
The result holds the run's state, each task's state and try number, and every XCom of the run. Needs a migrated
metadata database in ``$AIRFLOW_HOME`` (``airflow db migrate``). Used by the demo and the
end-to-end tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any


def run(dag_id: str, conf: dict[str, Any] | None, log_path: Path | None) -> dict[str, Any]:
    from airflow_provider_marketo._compat import dag_bag, keep_in_process_api_alive

    keep_in_process_api_alive()

    folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    with contextlib.ExitStack() as stack:
        if log_path is not None:
            log = stack.enter_context(open(log_path, "w"))
            stack.enter_context(contextlib.redirect_stdout(log))
            stack.enter_context(contextlib.redirect_stderr(log))
        bag = dag_bag(folder)
        if dag_id not in bag.dags:
            raise SystemExit(f"DAG {dag_id} not found in {folder}; import errors: {bag.import_errors}")
        dag_run = bag.dags[dag_id].test(run_conf=conf)
    return {
        "dag_id": dag_id,
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "tasks": {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()},
        "tries": {ti.task_id: ti.try_number for ti in dag_run.get_task_instances()},
        "xcoms": _xcoms(dag_id, dag_run.run_id),
    }


def _xcoms(dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    out: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        for row in session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id):
            out.setdefault(row.task_id, {})[row.key] = XComModel.deserialize_value(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dag_id")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--conf", type=json.loads, default=None)
    parser.add_argument("--log", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.dag_id, args.conf, args.log)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0 if result["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
