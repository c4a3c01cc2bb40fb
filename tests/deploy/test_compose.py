"""Deployment files stay valid: compose config validates when a compose CLI is present."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose_cmd():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_validates():
    cmd = _compose_cmd()
    if cmd is None:
        pytest.skip("no docker compose CLI on this machine")
    proc = subprocess.run([*cmd, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"], capture_output=True,
                          text=True, env={"WASTESORT_ADMIN_TOKEN": "x", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert proc.returncode == 0, proc.stderr


def test_compose_has_the_fleet():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert {"api1", "api2", "lb", "trainer", "redis", "minio", "minio-init"} <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    for f in ("Dockerfile.api", "Dockerfile.trainer"):
        text = (ROOT / "deploy" / f).read_text()
        assert "USER 10001" in text and "HEALTHCHECK" in text
        assert ".safetensors" not in text and ".onnx" not in text  # no weights baked in
