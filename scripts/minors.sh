# Sourced by the scripts: the supported Airflow minors, and where each one's venv and constraints live.
# The newest minor is the development one: .venv from constraints.txt; the others get .venv-3.X.
AIRFLOW_MINORS=(3.1 3.2 3.3)
AIRFLOW_DEV_MINOR=3.3
PYTHON_FLOOR=3.11

check_minor() {
  local m
  for m in "${AIRFLOW_MINORS[@]}"; do [ "$m" = "$1" ] && return 0; done
  echo "unsupported Airflow minor '$1' (supported: ${AIRFLOW_MINORS[*]})" >&2
  return 1
}

venv_dir() {
  check_minor "$1"
  if [ "$1" = "$AIRFLOW_DEV_MINOR" ]; then echo .venv; else echo ".venv-$1"; fi
}

constraints_file() {
  check_minor "$1"
  if [ "$1" = "$AIRFLOW_DEV_MINOR" ]; then echo constraints.txt; else echo "constraints/airflow-$1.txt"; fi
}
