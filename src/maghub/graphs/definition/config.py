"""The graph configuration schema (SPEC §5, reference §4), as lenient as the original's web client needs.

Accepted as sent (SPEC §2 rule 2): ``model_name: ""`` on subgraph nodes, ``handoffs: null``,
``level: null`` (or any non-integer, read as null), ``context_mode`` ``"all"`` / ``"N"`` / ``"latest"`` /
``"latest_n"`` with ``context_n``, ``end_template: ""``, ``null`` for any list or text field, and unknown
extra fields (``is_start``, ``is_end``, ``position``, …), which are kept but ignored.

The models only check *types*; what a value means in context (names, references, modes) is judged by
:mod:`maghub.graphs.definition.validation`, which reports every problem at once. Each parsed model remembers the
exact document it was read from (:meth:`GraphConfig.submitted`), because a graph is stored and returned
as submitted (SPEC §3), never in a normalised form.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

START = "start"
"""In ``input_nodes`` and ``context``: the run's input (inside a subgraph: what flows into the subgraph node)."""
END = "end"
"""In ``output_nodes``: the node's output is part of the graph's result."""
RESERVED_NODE_NAMES = frozenset({START, END})

MAX_NAME_LENGTH = 100
MAX_PARALLEL_NODES_LIMIT = 1000
"""The highest ``max_parallel_nodes`` a graph or the server may set: wider than any sane graph, low
enough to catch a typo (each running node holds a task, a stored round and usually an HTTP stream)."""
_FORBIDDEN_NAME_CHARS = "/\\.{}"

CONTEXT_MODE_ALL = "all"
CONTEXT_MODE_LATEST = "latest"
CONTEXT_MODE_LATEST_N = "latest_n"

# Keys a graph document may carry besides the configuration; they are stored apart from it.
DOCUMENT_KEYS = frozenset({"readme", "prompt_files", "version"})

# {name.ext}: a prompt file of the graph (reference §4.4). Node names cannot contain a dot, so this
# never takes a node placeholder.
# File names are letters, digits, "_", "-" and dots, so brace text such as a JSON example is not one.
_PROMPT_FILE_NAME_PATTERN = r"[\w\-][\w\-.]*\.[A-Za-z0-9]{1,16}"
PROMPT_FILE_PLACEHOLDER = re.compile(r"\{(" + _PROMPT_FILE_NAME_PATTERN + r")\}")
_PROMPT_FILE_NAME = re.compile(_PROMPT_FILE_NAME_PATTERN)
MAX_PROMPT_FILE_NAME_LENGTH = 200


_SAVE_EXTENSION = re.compile(r"^[a-z0-9]{1,16}$")


def normal_save_extension(value: str) -> str:
    """``save`` as written in a file name: " .MD " is "md"."""
    return value.strip().lower().removeprefix(".")


def save_extension_problem(extension: str) -> str | None:
    """Why ``extension`` (normalised) cannot end a saved file's name, or None (SPEC §9: names become paths)."""
    if _SAVE_EXTENSION.match(extension):
        return None
    return "must be a plain file extension of 1-16 letters or digits, such as 'md' or 'txt'"


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a graph or a node, or None if it can (SPEC §5, §9: names become paths)."""
    if not isinstance(name, str) or not name.strip():
        return "must not be empty"
    if name != name.strip():
        return "must not start or end with white space"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters"
    bad = sorted({ch for ch in name if ch in _FORBIDDEN_NAME_CHARS})
    if bad:
        shown = " ".join(bad)
        return f"must not contain {shown} (names are used in paths and placeholders); e.g. use '_' or '-' instead"
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return "must not contain control characters"
    return None


def prompt_file_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a prompt file (``{name.ext}`` placeholders), or None if it can."""
    if not isinstance(name, str) or not _PROMPT_FILE_NAME.fullmatch(name):
        return (
            "must be a plain file name with an extension, like 'style.md': letters, digits, '_', '-' and "
            "dots only, not starting with a dot"
        )
    if len(name) > MAX_PROMPT_FILE_NAME_LENGTH:
        return f"must be at most {MAX_PROMPT_FILE_NAME_LENGTH} characters"
    return None


def prompt_file_placeholders(text: str) -> list[str]:
    """The prompt file names ``{name.ext}`` placeholders in ``text`` refer to, in order, without repeats."""
    return list(dict.fromkeys(PROMPT_FILE_PLACEHOLDER.findall(text)))


def _none_to_default(value: Any, default: Any) -> Any:
    return default if value is None else value


class _Submitted(BaseModel):
    """Keeps the document a model was validated from, for storing it exactly as sent."""

    _submitted: dict[str, Any] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_submitted(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        parsed = handler(data)
        if isinstance(data, dict):
            parsed._submitted = copy.deepcopy(data)
        return parsed

    def submitted(self) -> dict[str, Any]:
        """The document as sent (a model built in code: its fields that were set, in JSON form)."""
        if self._submitted is not None:
            return copy.deepcopy(self._submitted)
        return self.model_dump(mode="json", exclude_unset=True)


class NodeConfig(BaseModel):
    """One node (reference §4.2). Subgraph nodes (``is_subgraph``) stand for another stored graph."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    description: str = ""
    model_name: str | None = None
    mcp_servers: tuple[str, ...] = ()
    system_prompt: str = ""
    user_prompt: str = ""
    input_nodes: tuple[str, ...] = ()
    output_nodes: tuple[str, ...] = ()
    handoffs: int | None = Field(default=None, description="Max routing decisions per run; null: not a router.")
    global_output: bool = False
    context: tuple[str, ...] = ()
    context_mode: str = Field(default=CONTEXT_MODE_ALL, description='"all", "latest", "latest_n" or "N" (a number).')
    context_n: int | None = None
    output_enabled: bool = True
    is_subgraph: bool = False
    subgraph_name: str | None = None
    save: str | None = Field(default=None, description="File extension to save each output under, e.g. 'md'.")
    position: dict[str, Any] | None = Field(default=None, description="Canvas position; opaque to the server.")
    level: int | None = Field(default=None, description="Accepted and ignored: levels are computed.")

    @field_validator("description", "system_prompt", "user_prompt", mode="before")
    @classmethod
    def _null_text(cls, value: Any) -> Any:
        return _none_to_default(value, "")

    @field_validator("mcp_servers", "input_nodes", "output_nodes", "context", mode="before")
    @classmethod
    def _null_list(cls, value: Any) -> Any:
        return _none_to_default(value, ())

    @field_validator("global_output", "is_subgraph", mode="before")
    @classmethod
    def _null_false(cls, value: Any) -> Any:
        return _none_to_default(value, False)

    @field_validator("output_enabled", mode="before")
    @classmethod
    def _null_true(cls, value: Any) -> Any:
        return _none_to_default(value, True)

    @field_validator("model_name", "subgraph_name", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # The web client sends model_name "" for subgraph nodes and subgraph_name null for the others.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("context_mode", mode="before")
    @classmethod
    def _context_mode(cls, value: Any) -> Any:
        if value is None:
            return CONTEXT_MODE_ALL
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("context_n", mode="before")
    @classmethod
    def _context_n(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("save", mode="before")
    @classmethod
    def _save_extension(cls, value: Any) -> Any:
        # " .MD " means "md", as in the original; anything else is kept as sent for validation to refuse
        # (the original stripped "../../x" to "x" without a word: SPEC §9 wants it refused).
        if isinstance(value, str):
            if not value.strip():
                return None
            normal = normal_save_extension(value)
            return value if save_extension_problem(normal) else normal
        return value

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    @property
    def is_router(self) -> bool:
        """Whether edges out of this node are routing edges (SPEC §5): ``handoffs`` is set, even to 0."""
        return self.handoffs is not None

    @property
    def context_limit(self) -> int | None:
        """How many of each context node's latest global outputs are read; None means all.

        Only meaningful for a configuration without validation problems.
        """
        mode = self.context_mode
        if mode == CONTEXT_MODE_LATEST:
            return 1
        if mode == CONTEXT_MODE_LATEST_N:
            return self.context_n
        if mode.isdigit():
            return int(mode)
        return None

    def prompt_file_names(self) -> list[str]:
        return prompt_file_placeholders(self.system_prompt + "\n" + self.user_prompt)


class GraphConfig(_Submitted):
    """A graph (reference §4.1). Unknown top-level fields are kept but ignored."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    description: str = ""
    nodes: tuple[NodeConfig, ...] = ()
    end_template: str | None = Field(default=None, description="Final result template; empty means none.")
    max_parallel_nodes: int | None = Field(
        default=None,
        strict=True,
        description="At most this many of the run's nodes at once (default and ceiling: the server's "
        "MAGHUB_MAX_PARALLEL_NODES).",
    )

    @field_validator("description", mode="before")
    @classmethod
    def _null_text(cls, value: Any) -> Any:
        return _none_to_default(value, "")

    @field_validator("nodes", mode="before")
    @classmethod
    def _null_nodes(cls, value: Any) -> Any:
        return _none_to_default(value, ())

    @field_validator("end_template", mode="before")
    @classmethod
    def _blank_template(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def node(self, name: str) -> NodeConfig | None:
        return next((node for node in self.nodes if node.name == name), None)

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def subgraph_names(self) -> set[str]:
        """The graphs this one's subgraph nodes refer to (directly)."""
        return {node.subgraph_name for node in self.nodes if node.is_subgraph and node.subgraph_name}

    def model_names(self) -> set[str]:
        return {node.model_name for node in self.nodes if not node.is_subgraph and node.model_name}

    def mcp_server_names(self) -> set[str]:
        return {server for node in self.nodes if not node.is_subgraph for server in node.mcp_servers}

    def stored_form(self) -> dict[str, Any]:
        """What is stored: the document as submitted, without the keys a document carries besides the
        configuration (``readme``, ``prompt_files``, and ``version``, which the server assigns)."""
        return {key: value for key, value in self.submitted().items() if key not in DOCUMENT_KEYS}


class GraphDocument(GraphConfig):
    """A graph as posted, imported or exported: the configuration plus, optionally, a written README and
    the prompt files its ``{name.ext}`` placeholders read.

    A key that is absent keeps what is stored; ``"readme": null`` (or ``""``) drops a written README
    (the generated one is shown again); ``"prompt_files": {...}`` replaces the whole set. ``version`` is
    what ``GET`` returned and is ignored on the way in.
    """

    readme: str | None = Field(default=None, description="A README written for the graph; kept as written.")
    prompt_files: dict[str, str] | None = Field(
        default=None, description="Files for {name.ext} placeholders in prompts: {file name: text}."
    )
    version: int | None = Field(default=None, description="Ignored: the server assigns versions.")

    @property
    def has_readme(self) -> bool:
        return "readme" in self.model_fields_set

    @property
    def has_prompt_files(self) -> bool:
        return "prompt_files" in self.model_fields_set
