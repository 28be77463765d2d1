"""Model management (MAG reference "模型管理API"). Names may contain "/": routes use ``:path``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import field_validator, model_validator

from maghub.api.deps import RuntimeDep
from maghub.api.schemas.common import Done
from maghub.api.schemas.models import ModelDetail, ModelView
from maghub.api.security import AdminInAuthMode
from maghub.llm.config import ModelConfig, validate_model_name

router = APIRouter(tags=["models"])


class ModelUpdate(ModelConfig):
    """A replacement configuration. ``name`` defaults to the current one (send another to rename);
    ``model`` to the stored one; a blank or masked ``api_key`` keeps the stored key."""

    name: str | None = None  # type: ignore[assignment]
    model: str | None = None  # type: ignore[assignment]

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:  # type: ignore[override]  # optional here
        return None if value is None else validate_model_name(value)

    @field_validator("model")
    @classmethod
    def _check_model(cls, value: str | None) -> str | None:  # type: ignore[override]  # optional here
        # null (like leaving it out) keeps the stored model id; a blank one is refused as on create
        return None if value is None else ModelConfig._check_model(value)

    @model_validator(mode="before")
    @classmethod
    def _model_defaults_to_name(cls, data: Any) -> Any:
        return data  # no default here: an update without ``model`` keeps the stored one


@router.get("/models", summary="List all models (API keys masked)", response_model=list[ModelView])
async def list_models(runtime: RuntimeDep) -> list[dict[str, Any]]:
    return await runtime.models.list_masked()


@router.get(
    "/models/{model_name:path}",
    summary="Get one model's configuration for editing",
    response_model=ModelDetail,
)
async def get_model(model_name: str, runtime: RuntimeDep) -> dict[str, Any]:
    return {"status": "success", "data": await runtime.models.get_masked(model_name)}


@router.post("/models", summary="Add a model", dependencies=[AdminInAuthMode], response_model=Done)
async def add_model(config: ModelConfig, runtime: RuntimeDep) -> dict[str, str]:
    await runtime.models.create(config)
    return {"status": "success", "message": f"模型 '{config.name}' 添加成功"}


@router.put(
    "/models/{model_name:path}",
    summary="Replace a model's configuration (rename allowed)",
    dependencies=[AdminInAuthMode],
    response_model=Done,
)
async def update_model(model_name: str, update: ModelUpdate, runtime: RuntimeDep) -> dict[str, str]:
    fields = {**update.model_dump(), "name": update.name or model_name}
    if update.model is None:
        fields["model"] = (await runtime.models.get_masked(model_name))["model"]
    config = ModelConfig.model_validate(fields)
    await runtime.models.update(model_name, config)
    return {"status": "success", "message": f"模型 '{model_name}' 更新成功"}


@router.delete(
    "/models/{model_name:path}",
    summary="Delete a model",
    dependencies=[AdminInAuthMode],
    response_model=Done,
)
async def delete_model(model_name: str, runtime: RuntimeDep) -> dict[str, str]:
    await runtime.models.delete(model_name)
    return {"status": "success", "message": f"模型 '{model_name}' 删除成功"}
