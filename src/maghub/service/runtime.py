"""The composition root: builds the services a running maghub needs, and closes them."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import timedelta

import anyio.to_thread

from maghub.auth.api_keys import ApiKeyService
from maghub.auth.tokens import TokenService, load_or_create_jwt_secret
from maghub.auth.users import UserService
from maghub.chat.conversations import ConversationService
from maghub.chat.service import ChatService
from maghub.chat.store import ChatStore
from maghub.errors import ConfigurationError
from maghub.generation.kinds import GraphGeneration, ToolGeneration
from maghub.generation.sessions import GenerationService
from maghub.generation.store import GenerationStore
from maghub.graphs.definition.registry import GraphRegistry
from maghub.graphs.running.engine import EngineServices
from maghub.graphs.running.run_store import RunStore
from maghub.graphs.running.runs import RunManager
from maghub.graphs.sharing.transfer import GraphPackages
from maghub.llm.http.pool import LLMClientPool
from maghub.llm.registry import ModelRegistry
from maghub.mcp.connections.manager import MCPManager
from maghub.mcp.connections.orphans import ProcessOwner, ending_left_behind
from maghub.mcp.connections.policy import ConnectionPolicy
from maghub.mcp.registry import MCPRegistry
from maghub.observability import tracing
from maghub.paths import tools_dir
from maghub.schedules.firing import ScheduleFirer
from maghub.schedules.service import ScheduleService
from maghub.security.secrets import SecretBox, load_or_create_key
from maghub.service.lifecycle import ActivityTracker, ShutdownController
from maghub.llm.sampler import ModelSampler
from maghub.settings import Settings
from maghub.store.database import Database
from maghub.tools.registry import AIToolRegistry

log = logging.getLogger(__name__)


def _signal_own_process() -> None:
    # Any ASGI server (uvicorn, hypercorn) treats SIGTERM as "finish in-flight requests, then exit".
    os.kill(os.getpid(), signal.SIGTERM)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    secrets: SecretBox
    models: ModelRegistry
    llm_clients: LLMClientPool
    mcp: MCPRegistry
    ai_tools: AIToolRegistry
    users: UserService
    api_keys: ApiKeyService
    activity: ActivityTracker
    shutdown: ShutdownController
    chat: ChatService
    conversations: ConversationService
    graphs: GraphRegistry
    packages: GraphPackages
    runs: RunManager
    schedules: ScheduleService
    generation: GenerationService
    graph_generation: GraphGeneration
    tool_generation: ToolGeneration
    _resources: AsyncExitStack = field(default_factory=AsyncExitStack)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        request_exit: Callable[[], None] | None = None,
        *,
        mcp_policy: ConnectionPolicy | None = None,
        connect_mcp: bool = True,
    ) -> Runtime:
        """Build everything; must be closed with :meth:`aclose` in the same task (MCP sessions
        belong to the task that opened them). ``connect_mcp=False``: the enabled MCP servers are
        configured but not connected (``maghub run`` connects only those its graph uses)."""
        ensure_data_dir(settings)
        tracing.configure_from_environment()  # before anything is traced; the SDK loads only if asked
        resources = AsyncExitStack()
        try:
            database = Database(settings.resolved_database_url)
            resources.push_async_callback(database.dispose)
            await database.migrate()
            secrets = open_secret_box(settings)
            tokens = TokenService(
                load_or_create_jwt_secret(settings.data_dir, settings.jwt_secret_value),
                timedelta(minutes=settings.jwt_lifetime_minutes),
            )
            llm_clients = LLMClientPool(default_timeout=settings.llm_timeout_seconds)
            resources.push_async_callback(llm_clients.aclose)
            owner = ProcessOwner.this_process(settings.data_dir)
            models = ModelRegistry(database, secrets, llm_clients)
            mcp_policy = replace(
                mcp_policy or ConnectionPolicy(),
                process_owner=owner.tag if owner else None,
                tool_result_max_chars=settings.tool_result_max_chars,
                sampler=ModelSampler(models),
            )
            await resources.enter_async_context(ending_left_behind(owner, mcp_policy.kill_grace))
            manager = await resources.enter_async_context(MCPManager(mcp_policy))
            mcp = MCPRegistry(database, secrets, manager, tools_dir=tools_dir(settings.data_dir))
            ai_tools = AIToolRegistry(
                tools_dir(settings.data_dir), mcp, install_timeout=settings.tool_install_timeout_seconds
            )
            await ai_tools.start()
            await mcp.start(connect=connect_mcp)
            activity = ActivityTracker()
            await models.seal_stored_secrets()
            graphs = GraphRegistry(database, models, mcp)
            engine = EngineServices(
                RunStore(database), models, manager, settings.data_dir, max_parallel_nodes=settings.max_parallel_nodes
            )
            # Closed before the MCP connections: runs still going are stored as interrupted first.
            runs = await resources.enter_async_context(RunManager(engine, graphs, activity))
            schedules = ScheduleService(database, graphs)
            # Stops before the run manager: no firing starts a run while runs are being interrupted.
            await resources.enter_async_context(ScheduleFirer(database, graphs, runs, schedules))
        except BaseException:
            await resources.aclose()
            raise
        log.info("database ready", extra={"database": database.safe_url})
        chat = ChatService(ChatStore(database), models, manager, activity)
        return cls(
            settings=settings,
            database=database,
            secrets=secrets,
            models=models,
            llm_clients=llm_clients,
            mcp=mcp,
            ai_tools=ai_tools,
            users=UserService(database, tokens),
            api_keys=ApiKeyService(database),
            activity=activity,
            shutdown=ShutdownController(activity, request_exit or _signal_own_process),
            chat=chat,
            conversations=ConversationService(database, models, chat.locks, settings.data_dir),
            graphs=graphs,
            packages=GraphPackages(graphs, models, mcp),
            runs=runs,
            schedules=schedules,
            generation=GenerationService(GenerationStore(database), models, activity),
            graph_generation=GraphGeneration(graphs, models, manager),
            tool_generation=ToolGeneration(ai_tools, manager),
            _resources=resources,
        )

    async def aclose(self) -> None:
        self.activity.closing = True
        drained = await self.activity.wait_idle(self.settings.shutdown_grace_seconds)
        if not drained:
            log.warning("closing with sessions still in flight", extra={"active_sessions": self.activity.count})
        # In reverse order of creation: MCP servers stop, then clients and the database close.
        await self._resources.aclose()
        if tracing.enabled():  # the last spans, before the process may end
            await anyio.to_thread.run_sync(tracing.flush)


def open_secret_box(settings: Settings) -> SecretBox:
    """The box for stored secrets, with the configured key or the data dir's (created once)."""
    return SecretBox(load_or_create_key(settings.data_dir, settings.secret_key_value))


def ensure_data_dir(settings: Settings) -> None:
    """Create the data dir (private to this user) or fail with a message that says how to fix it."""

    path = settings.data_dir
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigurationError(
            f"The data dir {path} is not writable ({exc.strerror or exc}). "
            "Choose another with --data-dir or MAGHUB_DATA_DIR, or fix its permissions."
        ) from exc
