"""What an autoscaled API replica pays: the install the API image does (``pip install '.[api]'``) and its
cold start (process start -> ``/readyz`` 200 with a model fetched from the store).

Run: ``python -m benchmarks.api_install --extras api --report reports/api_install.json``
(``--extras api,trainer`` measures an install with torch, as the API image was before the split).
The model served is the store's current version (``make starter`` publishes one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import cold_start
from wastesort.settings import REPO_ROOT, get_settings
from wastesort.store import open_store
from wastesort_trainer.report import machine, save_json_report


def du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--extras", default="api")
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--report", default="reports/api_install.json")
    args = ap.parse_args(argv)
    settings = get_settings()
    if open_store(settings.store).current() is None:
        print("error: the store has no current model; run `make starter` first", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="wastesort-api-install-"))
    try:
        venv = work / "venv"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        py = venv / "bin" / "python"
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"{REPO_ROOT}[{args.extras}]"], check=True)
        install_s = time.perf_counter() - t0
        has_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True).returncode == 0
        # no WASTESORT_VAR_DIR: the default (./var of the working directory) must work for a non-editable install
        env = {**os.environ, "WASTESORT_STORE__URI": settings.store.uri, "WASTESORT_API__ALLOW_OPEN_ADMIN": "true",
               "WASTESORT_API__WATCH_INTERVAL_S": "0"}
        env.pop("WASTESORT_VAR_DIR", None)
        # the first start also downloads and compiles the model
        starts = [round(cold_start(env, python=py, cwd=work), 2) for _ in range(args.starts)]
        report = {"machine": machine(), "extras": args.extras, "install_seconds": round(install_s, 1),
                  "venv_mb": round(du_mb(venv)), "torch_installed": has_torch, "cold_start_seconds": starts,
                  "model_version": open_store(settings.store).current()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"[{args.extras}] install {report['install_seconds']} s, {report['venv_mb']} MB, torch "
          f"{'installed' if has_torch else 'absent'}; cold start to /readyz {starts} s on {report['machine']}")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
