"""The fleet as code stays valid and says what it promises, checked offline on every run.

cfn-lint (CloudFormation), `kubectl kustomize` + kubernetes-validate --strict (every overlay), checkov (all of
them and both Dockerfiles, skips only in-file with a reason) and hadolint. The tools live in their own venv
(`scripts/iac_tools.sh`, run by `make test`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from wastesort.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("WASTESORT_IAC_VENV", ROOT / ".venv-iac")) / "bin"
TEMPLATE = ROOT / "deploy" / "aws" / "wastesort.yaml"
OVERLAYS = ["base", "overlays/aws", "overlays/local"]
DOCKERFILES = [ROOT / "deploy" / "Dockerfile.api", ROOT / "deploy" / "Dockerfile.trainer"]
K8S_VERSION = "1.33.0"  # oldest Kubernetes still in EKS standard support when written
MAX_SKIPS = 12  # a short list: each one carries its reason next to the resource


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} missing: run scripts/iac_tools.sh (make test does)")
    return str(path)


def sh(*cmd: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = os.environ | {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    return subprocess.run(cmd, capture_output=True, text=True, input=input, env=env, timeout=300)


def render(overlay: str) -> str:
    proc = sh(tool("kubectl"), "kustomize", str(ROOT / "deploy" / "k8s" / overlay))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def validate(manifests: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "rendered.yaml"
    path.write_text(manifests)
    return sh(tool("kubernetes-validate"), "--strict", "--quiet", "-k", K8S_VERSION, str(path))


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !Sub...) as {"Tag": value} so the template can be inspected."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: {suffix: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode)
    else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode) else loader.construct_mapping(node))})


def cfn() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


def k8s(overlay: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(render(overlay)) if d}


# ---------- the checkers ----------

def test_cloudformation_passes_cfn_lint():
    proc = sh(tool("cfn-lint"), str(TEMPLATE))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_passes_strict_schema_validation(overlay, tmp_path):
    proc = validate(render(overlay), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_validation_catches_a_misspelt_field(tmp_path):
    """The validator is strict: a typo that kubectl apply would silently drop is a failure here."""
    broken = render("overlays/aws").replace("readinessProbe:", "readynessProbe:", 1)
    assert validate(broken, tmp_path).returncode != 0


def _checkov(target: list[str], framework: str) -> list[dict]:
    args = [a for path in target for a in ("-f", path)]
    proc = sh(tool("checkov"), *args, "--framework", framework, "--skip-download", "-o", "json")
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    out = json.loads(proc.stdout) if proc.stdout.strip() not in ("", "[]") else []
    return out if isinstance(out, list) else [out]


def _findings(reports: list[dict]) -> tuple[list[str], list[dict]]:
    failed, skipped = [], []
    for report in reports:
        if "results" not in report:
            continue
        assert report["summary"]["parsing_errors"] == 0, report["summary"]
        failed += [f"{r['check_id']} {r['resource']} ({r['file_path']})" for r in report["results"]["failed_checks"]]
        skipped += report["results"]["skipped_checks"]
    return failed, skipped


def test_checkov_finds_nothing_and_every_skip_says_why(tmp_path):
    reports = _checkov([str(TEMPLATE)], "cloudformation") + _checkov([str(p) for p in DOCKERFILES], "dockerfile")
    for overlay in OVERLAYS:
        path = tmp_path / f"{overlay.replace('/', '-')}.yaml"
        path.write_text(render(overlay))
        reports += _checkov([str(path)], "kubernetes")
    failed, skipped = _findings(reports)
    assert failed == [], "\n".join(failed)
    ids = {s["check_id"] for s in skipped}
    assert len(ids) <= MAX_SKIPS, sorted(ids)
    for s in skipped:
        reason = s["check_result"].get("suppress_comment") or ""
        assert len(reason) >= 30, f"{s['check_id']} on {s['resource']} skipped without a reason"


def test_checkov_reports_what_it_is_not_told_to_skip(tmp_path):
    """A control: the same scan on a deployment with its hardening removed does fail."""
    bad = render("overlays/aws").replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
    path = tmp_path / "weakened.yaml"
    path.write_text(bad)
    failed, _ = _findings(_checkov([str(path)], "kubernetes"))
    assert any(f.startswith("CKV_K8S_22 ") for f in failed), failed


def test_hadolint_is_clean_and_each_ignore_has_a_reason_above_it():
    proc = sh(tool("hadolint"), *map(str, DOCKERFILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for dockerfile in DOCKERFILES:
        lines = dockerfile.read_text().splitlines()
        for i, line in enumerate(lines):
            if "hadolint ignore" in line:
                above = lines[i - 1]
                assert above.startswith("#") and "hadolint" not in above and len(above) > 30, \
                    f"{dockerfile.name}:{i + 1}: say why on the line above"


# ---------- what the templates promise ----------

def test_the_aws_template_has_the_fleet_the_docs_describe():
    res = cfn()["Resources"]
    tg = res["ApiTargets"]["Properties"]
    assert tg["HealthCheckPath"] == "/readyz"
    assert {"Key": "deregistration_delay.timeout_seconds", "Value": "30"} in tg["TargetGroupAttributes"]
    service = res["ApiService"]["Properties"]
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 100
    tracked = {r["Properties"]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"][
        "PredefinedMetricType"] for r in res.values() if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
        and r["Properties"]["PolicyType"] == "TargetTrackingScaling"}
    assert tracked == {"ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"}
    bucket = res["ModelBucket"]["Properties"]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    deny = res["ModelBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    redis = res["Redis"]["Properties"]
    assert redis["MultiAZEnabled"] and redis["TransitEncryptionEnabled"] and redis["SnapshotRetentionLimit"] > 0
    assert res["TrainerInstances"]["Properties"]["MinSize"] == "0"
    assert res["TrainerScaling"]["Properties"]["MinCapacity"] == 0
    alarms = [r["Properties"] for r in res.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    alarmed = {a.get("MetricName") for a in alarms}
    assert {"TargetResponseTime", "wastesort_queue_depth", "jobs_waiting_or_running"} <= alarmed
    assert any("HTTPCode_Target_5XX_Count" in json.dumps(a) for a in alarms)
    api = res["ApiTask"]["Properties"]["ContainerDefinitions"][0]
    assert api["ReadonlyRootFilesystem"] and api["User"] == "10001"
    assert [s["Name"] for s in api["Secrets"]] == ["WASTESORT_API__ADMIN_TOKEN"]
    assert not re.search(r"\b\d{12}\b", TEMPLATE.read_text()), "an account id is hard-coded"


def test_the_api_task_role_can_read_the_store_but_never_write_it():
    res = cfn()["Resources"]
    api_actions = json.dumps(res["ApiTaskRole"]["Properties"]["Policies"])
    trainer_actions = json.dumps(res["TrainerTaskRole"]["Properties"]["Policies"])
    assert "s3:GetObject" in api_actions and "s3:PutObject" not in api_actions and "s3:DeleteObject" not in api_actions
    assert "s3:PutObject" in trainer_actions


@pytest.mark.parametrize("overlay", ["overlays/aws", "overlays/local"])
def test_the_kubernetes_api_is_probed_spread_and_hardened(overlay):
    docs = k8s(overlay)
    api = docs[("Deployment", "wastesort-api")]["spec"]
    pod, (container,) = api["template"]["spec"], api["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "wastesort-admin"
    assert docs[("HorizontalPodAutoscaler", "wastesort-api")]["spec"]["minReplicas"] >= 2
    assert docs[("PodDisruptionBudget", "wastesort-api")]["spec"]["minAvailable"] >= 1
    assert ("Ingress", "wastesort-api") in docs
    assert all(d["metadata"].get("namespace") == "wastesort" for (kind, _), d in docs.items()
               if kind not in ("Namespace", "StorageClass"))


def test_the_aws_overlay_puts_the_trainer_on_a_gpu_and_the_api_behind_an_alb():
    docs = k8s("overlays/aws")
    trainer = docs[("Deployment", "wastesort-trainer")]["spec"]["template"]["spec"]
    assert trainer["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert trainer["tolerations"][0]["key"] == "nvidia.com/gpu"
    ingress = docs[("Ingress", "wastesort-api")]
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert "eks.amazonaws.com/role-arn" in docs[("ServiceAccount", "wastesort-api")]["metadata"]["annotations"]


def _settings_variables() -> set[str]:
    names = set()
    for section, field in Settings.model_fields.items():
        sub = getattr(field.annotation, "model_fields", None)
        if sub:
            names |= {f"WASTESORT_{section.upper()}__{k.upper()}" for k in sub}
        else:
            names.add(f"WASTESORT_{section.upper()}")
    return names


def test_every_setting_the_deploy_files_set_exists():
    """A misspelt WASTESORT_* variable is silently ignored at run time; here it fails."""
    known = _settings_variables()
    texts = [TEMPLATE.read_text(), (ROOT / "docker-compose.yml").read_text()] + [render(o) for o in OVERLAYS]
    used = {v for t in texts for v in re.findall(r"\bWASTESORT_[A-Z0-9_]+", t)} - {"WASTESORT_ADMIN_TOKEN"}
    assert used, "no settings found: the pattern is wrong"
    assert used <= known, sorted(used - known)
