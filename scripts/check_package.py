"""Build the sdist and wheel and check them as a provider release (run by ``scripts/test``).

Checks: LICENSE in both; the ``apache_airflow_provider`` entry point; the Airflow floor and Python
range in the metadata; no simulator-only runtime dependency; and that a resolver refuses the wheel
next to Airflow 3.0 (``uv pip compile`` of the wheel plus ``apache-airflow==3.0.6`` must fail).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv" / "bin" / "uv"
AIRFLOW_FLOOR = "apache-airflow>=3.1.8"
SIMULATOR_ONLY = ("fastapi", "uvicorn", "python-multipart")


def check(out: Path) -> list[str]:
    problems: list[str] = []
    subprocess.run([str(UV), "build", "--quiet", "--out-dir", str(out)], cwd=ROOT, check=True)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    if f"{dist_info}/licenses/LICENSE" not in names:
        problems.append(f"{wheel.name}: no {dist_info}/licenses/LICENSE")
    with tarfile.open(sdist) as tf:
        if not any(n.endswith("/LICENSE") and n.count("/") == 1 for n in tf.getnames()):
            problems.append(f"{sdist.name}: no LICENSE at the top")
    if "apache_airflow_provider" not in entry_points:
        problems.append("no apache_airflow_provider entry point")
    requires = metadata.get_all("Requires-Dist") or []
    runtime = [r for r in requires if "extra ==" not in r]
    if AIRFLOW_FLOOR not in runtime:
        problems.append(f"runtime dependencies {runtime} lack {AIRFLOW_FLOOR}")
    for name in SIMULATOR_ONLY:
        if any(r.split(">")[0].split("=")[0].strip() == name for r in runtime):
            problems.append(f"{name} is a runtime dependency (only the simulator needs it)")
    if metadata["License-Expression"] != "Apache-2.0":
        problems.append(f"License-Expression is {metadata['License-Expression']!r}")
    classifiers = metadata.get_all("Classifier") or []
    for needed in ("Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider"):
        if needed not in classifiers:
            problems.append(f"classifier {needed!r} missing")
    requirements = out / "airflow-3.0.txt"
    requirements.write_text(f"{wheel}\napache-airflow==3.0.6\n")
    resolved = subprocess.run(
        [str(UV), "pip", "compile", "--quiet", "--python-version", "3.11", str(requirements)],
        capture_output=True,
        text=True,
        cwd=out,
    )
    if resolved.returncode == 0:
        problems.append("a resolver accepts the wheel next to apache-airflow==3.0.6")
    elif "apache-airflow>=3.1.8" not in resolved.stderr:
        problems.append(
            f"resolution next to Airflow 3.0.6 failed for another reason: {resolved.stderr[-500:]}"
        )
    print(f"checked {wheel.name} and {sdist.name}: {len(problems)} problem(s)")
    return problems


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="marketo-dist-") as out:
        problems = check(Path(out))
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
