"""The AWS template's trainer autoscaling gauge, run for real: its inline function (taken from the template)
against a real redis-server speaking TLS, as ElastiCache does, with jobs queued by the product's own
submit path over `rediss://`, publishing to a real CloudWatch-API server (moto over HTTP)."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import boto3
import pytest

from tests.deploy.test_iac import cfn
from tests.utils.procs import free_port
from wastesort.queue import RetrainRequest, make_celery, submit_retrain
from wastesort.settings import Settings, TrainerSettings


@pytest.fixture
def tls_redis(tmp_path):
    """redis-server with TLS only (no plain port), its certificate signed for localhost; yields (port, ca)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed to make the test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert),
                             "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
                             "--save", "", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    ctx = ssl.create_default_context(cafile=str(cert))
    for _ in range(100):
        try:
            with ctx.wrap_socket(socket.create_connection(("localhost", port), 0.2), server_hostname="localhost"):
                break
        except OSError:
            time.sleep(0.05)
    yield port, cert
    proc.terminate()
    proc.wait(10)


def _gauge(tmp_path: Path):
    source = cfn()["Resources"]["JobsGauge"]["Properties"]["Code"]["ZipFile"]
    (tmp_path / "index.py").write_text(source)
    spec = importlib.util.spec_from_file_location("jobs_gauge_index", tmp_path / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def test_the_gauge_counts_queued_jobs_over_tls_and_publishes_them(tls_redis, s3_endpoint, tmp_path, monkeypatch):
    port, ca = tls_redis
    monkeypatch.setenv("REDIS_HOST", "localhost")
    monkeypatch.setenv("REDIS_PORT", str(port))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the function trusts the system store, as on Lambda
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", s3_endpoint)  # moto serves every AWS API on one port
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    handler = _gauge(tmp_path)
    assert handler({}, None) == 0

    url = f"rediss://localhost:{port}/0?ssl_cert_reqs=required&ssl_ca_certs={ca}"
    app = make_celery(Settings(trainer=TrainerSettings(broker_url=url, result_backend=url.replace("/0?", "/1?"),
                                                        runs_dir=tmp_path / "runs")))
    for _ in range(2):
        submit_retrain(app, RetrainRequest(mode="scratch"))
    assert handler({}, None) == 2

    cw = boto3.client("cloudwatch", endpoint_url=s3_endpoint, region_name="us-east-1")
    stats = cw.get_metric_statistics(Namespace="wastesort", MetricName="jobs_waiting_or_running",
                                     StartTime=time.time() - 600, EndTime=time.time() + 60, Period=60,
                                     Statistics=["Maximum"])
    assert max(p["Maximum"] for p in stats["Datapoints"]) == 2
