"""Security tests use the API fixtures: the real app over httpx with a tiny real model."""

from tests.api.conftest import published  # noqa: F401
