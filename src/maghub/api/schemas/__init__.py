"""The success bodies of the routes, as pydantic models: they document the API (``response_model``)
and check what is sent. Each matches what the original MAG web client reads; where a body is open-ended
(configurations as submitted, tool results), extra fields are allowed."""

from pydantic import BaseModel, ConfigDict


class Open(BaseModel):
    """A body whose listed fields are always there and which may carry more."""

    model_config = ConfigDict(extra="allow")


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")
