"""One settings object for every process (API, trainer, CLI), read from WASTESORT_* env vars.

Nested sections use ``__``: ``WASTESORT_STORE__URI=s3://bucket/wastesort``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_MATERIAL = REPO_ROOT.parent / "shared" / "datasets"


class DataSettings(BaseModel):
    root: Path = SHARED_MATERIAL / "trashnet"
    backgrounds: Path = SHARED_MATERIAL / "backgrounds"
    cache_dir: Path = REPO_ROOT / "var" / "cache"  # object masks (computed once per image)


class StoreSettings(BaseModel):
    # file:<folder> (default) or s3://bucket/prefix
    uri: str = f"file:{REPO_ROOT / 'var' / 'models'}"
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"


class ApiSettings(BaseModel):
    admin_token: str | None = None
    allow_open_admin: bool = False
    # openvino: bf16 where the CPU has it (~2.4x ONNX Runtime here), else f32; onnx: ONNX Runtime fp32
    engine: str = Field("openvino", pattern="^(openvino|openvino-f32|openvino-bf16|onnx|torch)$")
    threads: int = 0  # 0 = all cores
    max_batch_size: int = Field(8, ge=1, le=256)  # OpenVINO bf16 is fastest per image at 8
    max_wait_ms: float = Field(5.0, ge=0, le=1000)
    max_queue: int = Field(256, ge=1)
    top_k: int = Field(3, ge=1, le=6)
    uncertain_rule: str = Field("model", pattern="^(model|manual)$")
    uncertain_threshold: float = Field(0.6, ge=0, le=1)
    uncertain_margin: float = Field(0.2, ge=0, le=1)
    watch_interval_s: float = Field(5.0, ge=0)
    max_upload_bytes: int = 10 * 1024 * 1024
    max_files: int = Field(32, ge=1)
    max_pixels: int = 40_000_000
    allowed_root: Path = REPO_ROOT / "var" / "images"
    samples_dir: Path = REPO_ROOT / "var" / "samples"
    review_dir: Path = REPO_ROOT / "var" / "review"
    config_dir: Path = REPO_ROOT / "var" / "config"
    model_cache_dir: Path = REPO_ROOT / "var" / "model-cache"
    cors_origins: list[str] = []


class TrainerSettings(BaseModel):
    # The embedded default needs no server: Celery's filesystem transport + SQLite results.
    broker_url: str = "filesystem://"
    result_backend: str = f"db+sqlite:///{REPO_ROOT / 'var' / 'queue' / 'results.sqlite'}"
    queue_dir: Path = REPO_ROOT / "var" / "queue"
    concurrency: int = Field(1, ge=1)
    visibility_timeout_s: int = 6 * 3600
    runs_dir: Path = REPO_ROOT / "runs"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WASTESORT_", env_nested_delimiter="__", env_ignore_empty=True, extra="ignore"
    )

    data: DataSettings = DataSettings()
    store: StoreSettings = StoreSettings()
    api: ApiSettings = ApiSettings()
    trainer: TrainerSettings = TrainerSettings()

    @field_validator("store")
    @classmethod
    def _store_scheme(cls, v: StoreSettings) -> StoreSettings:
        if not (v.uri.startswith("file:") or v.uri.startswith("s3://")):
            raise ValueError(f"store.uri must start with file: or s3:// (got {v.uri!r})")
        return v


@lru_cache
def get_settings() -> Settings:
    return Settings()
