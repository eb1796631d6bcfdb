"""Settings shared by the example DAGs.

Each DAG reads its settings at run time from Airflow Variables, with defaults that work against the
bundled simulator: ``marketo_example_conn_id`` (default ``marketo_default``) and
``marketo_example_storage`` (default: the project's ``demo-output/`` folder as ``file://``; set it to
e.g. ``s3://aws_default@my-bucket/marketo`` to use S3). Templates are used so that parsing a DAG
file never reads a Variable.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_STORAGE = (Path(__file__).resolve().parent.parent / "demo-output").as_uri()

CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
STORAGE = "{{ var.value.get('marketo_example_storage', '" + DEFAULT_STORAGE + "') | trim('/') }}"
#: Per-run folder for exports and result files.
RUN_FOLDER = STORAGE + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
