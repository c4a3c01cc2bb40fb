"""One settings object for every process (API, trainer, CLI), read from WASTESORT_* env vars.

Nested sections use ``__``: ``WASTESORT_STORE__URI=s3://bucket/wastesort``,
``WASTESORT_API__RUNTIME__TOP_K=5``. Every working folder left unset lives under one ``var_dir``
(``WASTESORT_VAR_DIR``, default ``./var`` of the working directory, never inside an installed package), so
moving a machine's state is moving one folder.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]  # the checkout, for an editable install
SHARED_MATERIAL = REPO_ROOT.parent / "shared" / "datasets"


class DataSettings(BaseModel):
    root: Path = SHARED_MATERIAL / "trashnet"
    backgrounds: Path = SHARED_MATERIAL / "backgrounds"
    field: Path = SHARED_MATERIAL / "field"  # real photos off the board: a check, never training data
    cache_dir: Path | None = None  # object masks (computed once per image); default <var>/cache


class StoreSettings(BaseModel):
    # file:<folder> or s3://bucket/prefix; default file:<var>/models
    uri: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

    @field_validator("uri")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not (v.startswith("file:") or v.startswith("s3://")):
            raise ValueError(f"store.uri must start with file: or s3:// (got {v!r})")
        return v


# Defined once: the environment sets the start values (WASTESORT_API__RUNTIME__*), /v1/change changes them.
class RuntimeConfig(BaseModel):
    """What an operator may change on a live replica (/v1/change), save and restore."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    top_k: int = Field(3, ge=1, le=6)
    # "model": the served model's calibrated signal and threshold (falls back to manual without one)
    uncertain_rule: Literal["model", "manual"] = "model"
    uncertain_threshold: float = Field(0.6, ge=0, le=1)
    uncertain_margin: float = Field(0.2, ge=0, le=1)
    max_batch_size: int = Field(8, ge=1, le=256)  # OpenVINO is fastest per image around 8
    max_wait_ms: float = Field(5.0, ge=0, le=1000)
    review_enabled: bool = True
    # this share of confident predictions also goes to the review queue, so confident mistakes get found too
    review_confident_share: float = Field(0.02, ge=0, le=1)


MIN_TOKEN_LENGTH = 16


class ApiSettings(BaseModel):
    admin_token: str | None = None  # empty counts as unset; shorter than MIN_TOKEN_LENGTH is refused
    allow_open_admin: bool = False
    # openvino: bf16 where the CPU has it, else f32; openvino-int8: the version's int8 variant where
    # `wastesort export --int8` accepted it (else that version is served in f32, and /info says so); onnx: ONNX
    # Runtime fp32. The API never loads torch.
    engine: str = Field("openvino", pattern="^(openvino|openvino-f32|openvino-bf16|openvino-int8|onnx)$")
    threads: int = 0  # 0 = all cores
    max_queue: int = Field(256, ge=1)
    watch_interval_s: float = Field(5.0, ge=0)
    max_upload_bytes: int = 10 * 1024 * 1024
    max_files: int = Field(32, ge=1)
    max_pixels: int = 24_000_000  # a 24-megapixel camera frame; line cameras send 2-12
    max_decoding: int = Field(64, ge=1)  # images being decoded at once, all requests together; then 503
    review_max_items: int = Field(1000, ge=1)  # past either bound the most confident items are dropped
    review_max_bytes: int = Field(200 * 2**20, ge=1)
    runtime: RuntimeConfig = RuntimeConfig()
    # folders; default under the var dir
    allowed_root: Path | None = None
    samples_dir: Path | None = None
    review_dir: Path | None = None
    config_dir: Path | None = None
    model_cache_dir: Path | None = None
    cors_origins: list[str] = []


    @model_validator(mode="after")
    def _one_request_fits(self) -> ApiSettings:
        if self.max_files > self.max_decoding:
            raise ValueError(f"max_files ({self.max_files}) must not exceed max_decoding ({self.max_decoding})")
        return self

    @field_validator("admin_token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        """An empty token once matched an empty Authorization header and opened every admin route."""
        if v is None or not v.strip():
            return None
        if len(v) < MIN_TOKEN_LENGTH:
            raise ValueError(f"admin_token must be at least {MIN_TOKEN_LENGTH} characters "
                             "(e.g. `openssl rand -hex 24`)")
        return v


class TrainerSettings(BaseModel):
    # The embedded default needs no server: Celery's filesystem transport + SQLite results under the var dir.
    broker_url: str = "filesystem://"
    result_backend: str | None = None  # default db+sqlite:///<var>/queue/results.sqlite
    queue_dir: Path | None = None
    concurrency: int = Field(1, ge=1)
    visibility_timeout_s: int = 6 * 3600
    runs_dir: Path | None = None  # job work folders; default <var>/jobs


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WASTESORT_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    var_dir: Path = Path("var")  # relative: resolved against the working directory
    data: DataSettings = DataSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    trainer: TrainerSettings = TrainerSettings()

    @model_validator(mode="after")
    def _under_var_dir(self) -> Settings:
        """Fill every unset folder from ``var_dir`` (the one place a deployment moves state)."""
        var = self.var_dir = self.var_dir.resolve()
        self.data.cache_dir = self.data.cache_dir or var / "cache"
        self.store.uri = self.store.uri or f"file:{var / 'models'}"
        api = self.api
        api.allowed_root = api.allowed_root or var / "images"
        api.samples_dir = api.samples_dir or var / "samples"
        api.review_dir = api.review_dir or var / "review"
        api.config_dir = api.config_dir or var / "config"
        api.model_cache_dir = api.model_cache_dir or var / "model-cache"
        t = self.trainer
        t.queue_dir = t.queue_dir or var / "queue"
        t.result_backend = t.result_backend or f"db+sqlite:///{t.queue_dir / 'results.sqlite'}"
        t.runs_dir = t.runs_dir or var / "jobs"
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
