"""Request/response models: the OpenAPI contract SDKs are generated from."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from wastesort import CLASSES
from wastesort.queue import RetrainRequest
from wastesort.settings import RuntimeConfig


class ClassProbability(BaseModel):
    label: str
    probability: float


class PredictionOut(BaseModel):
    filename: str
    label: str
    confidence: float
    margin: float = Field(description="top-1 minus top-2 probability")
    uncertain: bool
    top_k: list[ClassProbability]
    model_version: str
    latency_ms: float
    review_id: str | None = None


class PredictErrorOut(BaseModel):
    filename: str
    code: str
    message: str


class PredictResponse(BaseModel):
    predictions: list[PredictionOut]
    model_version: str


class ModelCardOut(BaseModel):
    version: str | None
    description: str | None = None
    architecture: str | None = None
    engine: str | None = None
    input_size: int | None = None
    label_names: list[str] = []
    metrics: dict[str, Any] = {}


class InfoOut(BaseModel):
    config: RuntimeConfig
    model: ModelCardOut
    store: str
    queue: str
    current: str | None = None
    stale: str | None = None


def _change_models() -> tuple[type[BaseModel], ...]:
    """One {param, value} model per runtime setting, value typed and bounded like the setting itself,
    so the schema (and every SDK generated from it) knows each parameter's name, type and range."""
    out = []
    for name, field in RuntimeConfig.model_fields.items():
        value_type = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
        out.append(create_model("Change" + "".join(p.title() for p in name.split("_")),
                                __config__=ConfigDict(strict=True), param=(Literal[name], name),
                                value=(value_type, ...)))
    return tuple(out)


ChangeIn = Annotated[Union[_change_models()], Field(discriminator="param")]  # noqa: UP007


class ConfirmIn(BaseModel):
    confirm: bool = False
    path: str = "api_config.json"


class ConfigSavedOut(BaseModel):
    path: str
    config: RuntimeConfig
    found: bool = True


class RefreshOut(BaseModel):
    files: list[str]


class RetrainIn(RetrainRequest):
    model_config = ConfigDict(strict=True)  # JSON types as declared: no "1" for 1, no 0 for false

    use_review: bool = Field(False, description="use the labelled review queue as new data")
    folder: str | None = Field(None, description="new data folder, relative to the allowed root")
    verbose: bool = False


class JobOut(BaseModel):
    id: str
    state: str
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class VersionOut(BaseModel):
    version: str
    current: bool
    mode: str | None = None
    parent: str | None = None
    created: str | None = None
    metrics: dict[str, Any] = {}


class PointerOut(BaseModel):
    current: str | None
    serving: str | None


class ReviewItemOut(BaseModel):
    id: str
    filename: str | None = None
    label: str
    confidence: float
    margin: float
    score: float | None = Field(None, description="the model's confidence signal the queue is sorted by "
                                                  "(lowest first: likeliest mistakes)")
    reason: Literal["uncertain", "sampled"] = Field(
        "uncertain", description="sampled: a confident prediction kept so confident mistakes are seen too")
    model_version: str | None = None
    created: float


class ReviewListOut(BaseModel):
    items: list[ReviewItemOut]
    labelled_waiting: int


class LabelIn(BaseModel):
    label: Literal[CLASSES]  # type: ignore[valid-type]


class LabelOut(BaseModel):
    id: str
    label: str
    labelled_waiting: int


class HealthOut(BaseModel):
    status: Literal["ok", "not_ready"]
    model_version: str | None = None
    current: str | None = Field(None, description="the store's CURRENT as last read")
    stale: str | None = Field(None, description="why the served version is not CURRENT, when it is not")
