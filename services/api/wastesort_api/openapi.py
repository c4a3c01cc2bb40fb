"""Write the app's OpenAPI document: ``python -m wastesort_api.openapi > openapi.json``.

The committed ``openapi.json`` is the contract SDKs are generated from; a test fails when the app
drifts from it, so a breaking change is always a deliberate, reviewed file change.
"""

from __future__ import annotations

import json
import sys

from wastesort.settings import ApiSettings, Settings


def schema() -> dict:
    from wastesort_api.main import create_app

    app = create_app(Settings(api=ApiSettings(admin_token="schema-only-not-served")))
    return app.openapi()


def dumps() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(dumps())
