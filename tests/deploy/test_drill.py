"""The rollout drill as a regression test: replicas behind nginx (the shipped server block) keep answering
every prediction across a model publish, a rollback over the API, a SIGKILLed replica and its restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wastesort.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


def test_no_request_fails_during_publish_rollback_and_a_killed_replica(artifact, tmp_path):
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.fail("nginx is not installed (scripts/services.sh installs it)")
    LocalStore(tmp_path / "store").publish(artifact, mode="test", version="first")
    report = tmp_path / "drill.json"
    env = os.environ | {"WASTESORT_STORE__URI": f"file:{tmp_path / 'store'}"}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.drill", "--replicas", "2", "--rate", "8", "--gap", "5",
                           "--report", str(report)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert report.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["total"]["failed"] == 0, result["events"]
    assert result["total"]["requests"] >= 5 * 5 * 8 * 0.9
    assert None not in result["fleet_swap_s"].values(), result["fleet_swap_s"]  # both swaps reached every replica
    assert result["store_current_after"] == "drill-a" and result["versions_after_rollback"] == ["drill-a"]
    assert proc.returncode == 0
