"""The committed openapi.json is the contract: drift fails until the file is regenerated on purpose."""

import json
from pathlib import Path

from wastesort_api.openapi import dumps, schema

SPEC = Path(__file__).resolve().parents[2] / "openapi.json"


def test_schema_matches_committed_openapi_json():
    assert SPEC.read_text() == dumps(), (
        "the API schema changed: review it, then run `.venv/bin/python -m wastesort_api.openapi > openapi.json`")


def test_every_operation_has_id_tags_and_error_model():
    spec = schema()
    ids = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("operationId"), (method, path)
            assert op.get("tags"), (method, path)
            ids.append(op["operationId"])
            if path.startswith("/v1/"):
                assert "422" in op["responses"] or "400" in op["responses"], (method, path)
    assert len(ids) == len(set(ids))
    assert "ErrorOut" in spec["components"]["schemas"]
    assert all(p.startswith(("/v1/", "/healthz", "/readyz", "/metrics")) for p in spec["paths"])
    assert json.loads(SPEC.read_text())["info"]["title"] == "wastesort"
