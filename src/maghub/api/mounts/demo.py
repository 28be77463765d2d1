"""Demo mode: an offline scripted LLM served by maghub itself, registered as the model ``demo``.

It lets a new user try every feature without an API key. The scripted server is mounted inside
maghub's own app, so it needs no extra port and lives exactly as long as the server.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from maghub.generation.demo import demo_design_reply
from maghub.llm.config import ModelConfig
from maghub.service.runtime import Runtime
from maghub.service.server import local_url
from maghub.testing.scripted_llm import Reply, ScriptedLLM, last_user_text

log = logging.getLogger(__name__)

DEMO_MODEL_NAME = "demo"
DEMO_MOUNT_PATH = "/demo/llm"


def demo_reply(body: dict[str, Any]) -> Reply:
    design = demo_design_reply(body.get("messages") or [], DEMO_MODEL_NAME)
    if design is not None:  # a generation conversation (graphs/generate, mcp/generate)
        return Reply(content=design, chunk_size=4, chunk_delay=0.005)
    text = last_user_text(body).strip() or "(nothing)"
    if "<title>" in text:  # maghub naming a new conversation
        return Reply(content=_demo_title(text))
    content = f"Hello from maghub's offline demo model. You said: {text}"
    return Reply(content=content, chunk_size=2, chunk_delay=0.01)


def _demo_title(prompt: str) -> str:
    """A title from the first words of the question the naming prompt quotes."""
    for marker in ("User:\n", "用户：\n"):
        if marker in prompt:
            question = prompt.split(marker, 1)[1].split("\n\n", 1)[0]
            break
    else:
        question = "Demo conversation"
    words = question.split()
    title = " ".join(words[:6]) if len(words) > 1 else question[:12]
    return f"<title>{title}</title><tags>demo</tags>"


def mount_demo_llm(app: FastAPI, *, scripting: bool) -> ScriptedLLM:
    """Mount the demo model. ``scripting`` adds its ``_scripted`` endpoints (and the request log they
    read): never in auth mode (SPEC §9), where they would let anyone read every prompt sent to the
    demo model and script replies, tool calls included, into other users' chats."""
    llm = ScriptedLLM(
        models=[DEMO_MODEL_NAME], default_reply=demo_reply, max_log=1000 if scripting else 0, scripting=scripting
    )
    app.mount(DEMO_MOUNT_PATH, llm.app)
    return llm


async def register_demo_model(runtime: Runtime) -> None:
    """Point the ``demo`` model at this server's mounted scripted LLM (the port may differ per start)."""
    settings = runtime.settings
    base_url = f"{local_url(settings.host, settings.port)}{DEMO_MOUNT_PATH}/v1"
    await runtime.models.upsert(ModelConfig(name=DEMO_MODEL_NAME, base_url=base_url, api_key="", model=DEMO_MODEL_NAME))
    log.info("demo model registered", extra={"model": DEMO_MODEL_NAME, "base_url": base_url})
