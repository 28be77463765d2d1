import {
  Background, Controls, Handle, MarkerType, MiniMap, Position, ReactFlow,
  type Connection, type Edge, type EdgeChange, type Node, type NodeChange, type NodeProps, type ReactFlowInstance,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, enc, get, post, put, type Problem } from "../api";
import { ErrorText, Field, Markdown } from "../components";
import {
  autoLayout, COLUMN, connect, disconnect, edgesOf, END, localProblems, positionOf, removeNode, renameNode, ROW, START,
  terminalPositions, uniqueName, type Graph, type GraphNode,
} from "../graph";
import { useI18n } from "../i18n";

type AgentData = { node: GraphNode; problems: string[]; selected: boolean };
type TerminalData = { label: string };

const AgentNodeView = memo(function AgentNodeView({ data }: NodeProps<Node<AgentData>>) {
  const { node, problems } = data;
  return (
    <div className={`agent-node${problems.length ? " has-problems" : ""}${node.is_subgraph ? " subgraph" : ""}`} title={problems.join("\n")}>
      <Handle type="target" position={Position.Left} />
      <div className="agent-name">{node.name}</div>
      <div className="agent-meta">{node.is_subgraph ? `⧉ ${node.subgraph_name ?? "?"}` : node.model_name || "—"}</div>
      {(node.handoffs ?? 0) > 0 && <div className="agent-meta">⇄ {node.handoffs}</div>}
      {problems.length > 0 && <div className="agent-problem" data-testid="node-problem">⚠ {problems[0]}</div>}
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

function TerminalNodeView({ data, id }: NodeProps<Node<TerminalData>>) {
  return (
    <div className="terminal-node">
      {id === "__end" && <Handle type="target" position={Position.Left} />}
      {data.label}
      {id === "__start" && <Handle type="source" position={Position.Right} />}
    </div>
  );
}

const nodeTypes = { agent: AgentNodeView, terminal: TerminalNodeView };
const nodeId = (name: string) => (name === START ? "__start" : name === END ? "__end" : `n:${name}`);
const nameOf = (id: string) => (id === "__start" ? START : id === "__end" ? END : id.slice(2));

/** The graph with an undo/redo history; moves are recorded when a drag ends, not on every frame. */
function useHistory(initial: Graph) {
  const [state, setState] = useState({ past: [] as Graph[], present: initial, future: [] as Graph[] });
  const change = useCallback((update: (g: Graph) => Graph, record = true) => {
    setState((s) => {
      const next = update(s.present);
      if (next === s.present) return s;
      return record ? { past: [...s.past.slice(-99), s.present], present: next, future: [] } : { ...s, present: next };
    });
  }, []);
  const checkpoint = useCallback((before: Graph) => {
    setState((s) => ({ past: [...s.past.slice(-99), before], present: s.present, future: [] }));
  }, []);
  const undo = useCallback(() => setState((s) => (s.past.length ? { past: s.past.slice(0, -1), present: s.past[s.past.length - 1], future: [s.present, ...s.future] } : s)), []);
  const redo = useCallback(() => setState((s) => (s.future.length ? { past: [...s.past, s.present], present: s.future[0], future: s.future.slice(1) } : s)), []);
  const reset = useCallback((graph: Graph) => setState({ past: [], present: graph, future: [] }), []);
  return { graph: state.present, change, checkpoint, undo, redo, reset, canUndo: state.past.length > 0, canRedo: state.future.length > 0 };
}

const EMPTY: Graph = { name: "", description: "", nodes: [], end_template: "" };

export default function GraphEditorPage() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const params = useParams();
  const existing = params.name ?? null;
  const history = useHistory(EMPTY);
  const { graph, change } = history;
  const [loaded, setLoaded] = useState(existing === null);
  const [selected, setSelected] = useState<string | null>(null);
  const [models, setModels] = useState<string[]>([]);
  const [servers, setServers] = useState<string[]>([]);
  const [graphNames, setGraphNames] = useState<string[]>([]);
  const [serverProblems, setServerProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [dragStart, setDragStart] = useState<Graph | null>(null);
  const [flow, setFlow] = useState<ReactFlowInstance | null>(null);
  const [readme, setReadme] = useState<string | null>(null);

  async function toggleReadme() {
    if (readme !== null || !existing) return setReadme(null);
    try {
      setReadme((await get<{ readme: string }>(`/graphs/${enc(existing)}/readme`)).readme);
    } catch (err) {
      setError(err);
    }
  }

  useEffect(() => {
    get<{ name: string }[]>("/models").then((list) => setModels(list.map((m) => m.name)), setError);
    get<Record<string, unknown>>("/mcp/status").then((s) => setServers(Object.keys(s)), setError);
    get<string[]>("/graphs").then(setGraphNames, setError);
  }, []);
  useEffect(() => {
    if (existing === null) {
      history.reset(EMPTY);
      setLoaded(true);
      return;
    }
    setLoaded(false);
    get<Graph>(`/graphs/${enc(existing)}`).then((g) => {
      history.reset({ ...g, nodes: g.nodes.map((n) => ({ ...n, input_nodes: n.input_nodes ?? [], output_nodes: n.output_nodes ?? [] })) });
      setLoaded(true);
      setDirty(false);
    }, setError);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [existing]);

  // Ctrl+Z / Ctrl+Y (Ctrl+Shift+Z) undo and redo, except while typing in a field (it has its own undo).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (!(event.ctrlKey || event.metaKey) || target?.closest("input, textarea, select")) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) history.undo();
      else if (key === "y" || (key === "z" && event.shiftKey)) history.redo();
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [history.undo, history.redo]);

  const edit = useCallback((update: (g: Graph) => Graph, record = true) => {
    change(update, record);
    setDirty(true);
    setSaved(null);
  }, [change]);

  const problems = useMemo(() => {
    const local = localProblems(graph, t);
    return [...local, ...serverProblems.map((p) => ({ node: p.node ?? null, field: p.field ?? "", message: p.message }))];
  }, [graph, serverProblems, t]);
  const problemsOf = useCallback((node: string | null, field?: string) =>
    problems.filter((p) => p.node === node && (field === undefined || p.field === field)).map((p) => p.message), [problems]);

  const rfNodes: Node[] = useMemo(() => {
    const ends = terminalPositions(graph);
    const agents: Node[] = graph.nodes.map((node, index) => ({
      id: nodeId(node.name),
      type: "agent",
      position: positionOf(graph, node, index),
      selected: selected === node.name,
      data: { node, problems: problemsOf(node.name), selected: selected === node.name },
    }));
    return [
      { id: "__start", type: "terminal", position: ends.start, data: { label: t("editor.start") }, deletable: false, draggable: false },
      { id: "__end", type: "terminal", position: ends.end, data: { label: t("editor.end") }, deletable: false, draggable: false },
      ...agents,
    ];
  }, [graph, selected, problemsOf, t]);

  const rfEdges: Edge[] = useMemo(() => edgesOf(graph).map((e) => ({
    id: `${e.source}->${e.target}`,
    source: nodeId(e.source),
    target: nodeId(e.target),
    className: `${e.handoff ? "edge-handoff" : ""} ${e.back ? "edge-back" : ""}`.trim(),
    animated: e.handoff,
    type: e.back ? "smoothstep" : "default",
    label: e.back ? "↺" : e.handoff ? "⇄" : undefined,
    markerEnd: { type: MarkerType.ArrowClosed },
  })), [graph]);

  const onNodesChange = useCallback((changes: NodeChange[]) => {
    for (const c of changes) {
      if (c.type === "position" && c.position) {
        const name = nameOf(c.id);
        if (c.dragging && !dragStart) setDragStart(graph);
        edit((g) => ({ ...g, nodes: g.nodes.map((n) => (n.name === name ? { ...n, position: { x: Math.round(c.position!.x), y: Math.round(c.position!.y) } } : n)) }), false);
        if (c.dragging === false && dragStart) {
          history.checkpoint(dragStart);
          setDragStart(null);
        }
      } else if (c.type === "position" && c.dragging === false && dragStart) {
        history.checkpoint(dragStart);
        setDragStart(null);
      } else if (c.type === "select") {
        if (c.selected) setSelected(nameOf(c.id) === START || nameOf(c.id) === END ? null : nameOf(c.id));
      } else if (c.type === "remove" && c.id.startsWith("n:")) {
        const name = nameOf(c.id);
        edit((g) => removeNode(g, name));
        setSelected(null);
      }
    }
  }, [edit, graph, dragStart, history]);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    for (const c of changes) {
      if (c.type === "remove") {
        const [source, target] = c.id.split("->");
        edit((g) => disconnect(g, source, target));
      }
    }
  }, [edit]);

  const onConnect = useCallback((c: Connection) => {
    const source = nameOf(c.source);
    const target = nameOf(c.target);
    if (source === target || target === START || source === END) return;
    edit((g) => connect(g, source, target));
  }, [edit]);

  function addNode(subgraph = false) {
    const name = uniqueName(graph, subgraph ? "subgraph" : "agent");
    const count = graph.nodes.length;
    const position = { x: COLUMN + Math.floor(count / 4) * COLUMN, y: (count % 4) * ROW }; // a free cell of a grid
    const node: GraphNode = subgraph
      ? { name, is_subgraph: true, subgraph_name: graphNames.find((n) => n !== graph.name) ?? "", input_nodes: [], output_nodes: [], position }
      : { name, model_name: models.length === 1 ? models[0] : "", description: "", system_prompt: "", user_prompt: "", mcp_servers: [], input_nodes: [], output_nodes: [], position };
    edit((g) => ({ ...g, nodes: [...g.nodes, node] }));
    setSelected(name);
    refit();
  }

  /** Show the whole graph again after nodes were added or moved by the layout. */
  function refit() {
    window.setTimeout(() => flow?.fitView({ maxZoom: 1, duration: 200 }), 50);
  }

  async function save() {
    setError(null);
    setServerProblems([]);
    if (localProblems(graph, t).length) {
      setError(new Error(t("editor.fixProblems")));
      return;
    }
    try {
      if (existing && existing !== graph.name) await put(`/graphs/${enc(existing)}/rename/${enc(graph.name)}`);
      const body = { ...graph };
      delete body.version;
      await post("/graphs", body);
      setDirty(false);
      setSaved(t("editor.saved"));
      if (existing !== graph.name) navigate(`/graphs/${enc(graph.name)}`, { replace: true });
    } catch (err) {
      if (err instanceof ApiError) setServerProblems(err.problems.length ? err.problems : [{ node: null, field: "name", message: err.message }]);
      setError(err);
    }
  }

  function exportJson() {
    const blob = new Blob([JSON.stringify(graph, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${graph.name || "graph"}.json`;
    link.click();
    URL.revokeObjectURL(link.href);
  }

  async function importJson(file: File) {
    try {
      const parsed = JSON.parse(await file.text()) as Graph;
      if (!Array.isArray(parsed.nodes)) throw new Error(t("editor.badImport"));
      edit(() => ({ ...parsed, nodes: parsed.nodes.map((n) => ({ ...n, input_nodes: n.input_nodes ?? [], output_nodes: n.output_nodes ?? [] })) }));
    } catch (err) {
      setError(err);
    }
  }

  const node = graph.nodes.find((n) => n.name === selected) ?? null;
  if (!loaded) return <div className="page"><ErrorText error={error} /><p className="muted">{t("common.loading")}</p></div>;
  return (
    <div className="editor">
      <div className="toolbar">
        <Link to="/graphs">← {t("graphs.title")}</Link>
        <button onClick={() => addNode()} data-testid="add-node">{t("editor.addNode")}</button>
        <button onClick={() => addNode(true)}>{t("editor.addSubgraph")}</button>
        <button onClick={history.undo} disabled={!history.canUndo} title="Ctrl+Z">{t("editor.undo")}</button>
        <button onClick={history.redo} disabled={!history.canRedo} title="Ctrl+Y">{t("editor.redo")}</button>
        <button onClick={() => { edit(autoLayout); refit(); }}>{t("editor.layout")}</button>
        <button onClick={exportJson}>{t("editor.export")}</button>
        {existing && <button onClick={() => void toggleReadme()} aria-pressed={readme !== null}>{t("editor.readme")}</button>}
        <label className="button">
          {t("editor.import")}
          <input type="file" accept="application/json,.json" hidden onChange={(e) => e.target.files?.[0] && void importJson(e.target.files[0])} />
        </label>
        <span className="spacer" />
        {saved && <span className="ok" role="status">{saved}</span>}
        {dirty && <span className="muted">{t("editor.unsaved")}</span>}
        <button className="primary" onClick={() => void save()} data-testid="save">{t("common.save")}</button>
        <button disabled={dirty || !existing} onClick={() => navigate(`/graphs/${enc(graph.name)}/run`)} data-testid="run" title={dirty ? t("editor.saveFirst") : ""}>
          ▶ {t("graphs.run")}
        </button>
      </div>
      <ErrorText error={error} />
      {problems.some((p) => p.node === null) && (
        <ul className="problems" data-testid="graph-problems">
          {problems.filter((p) => p.node === null).map((p) => <li key={p.field + p.message}>{p.message}</li>)}
        </ul>
      )}
      <div className="editor-body">
        <div className="canvas" data-testid="canvas">
          <ReactFlow
            nodes={rfNodes}
            edges={rfEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onPaneClick={() => setSelected(null)}
            onNodeDoubleClick={(_, n) => {
              const target = graph.nodes.find((g) => nodeId(g.name) === n.id);
              if (target?.is_subgraph && target.subgraph_name) navigate(`/graphs/${enc(target.subgraph_name)}`);
            }}
            deleteKeyCode={["Delete", "Backspace"]}
            onInit={setFlow}
            fitView
            fitViewOptions={{ maxZoom: 1 }}
            minZoom={0.1}
            onlyRenderVisibleElements
          >
            <Background />
            <Controls />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </div>
        <aside className="properties" data-testid="properties">
          {readme !== null ? (
            <div data-testid="readme"><Markdown text={readme} /></div>
          ) : node ? (
            <NodeProperties
              node={node}
              models={models}
              servers={servers}
              graphNames={graphNames.filter((n) => n !== graph.name)}
              others={graph.nodes.filter((n) => n.name !== node.name).map((n) => n.name)}
              problemsOf={(field) => problemsOf(node.name, field).join("; ") || undefined}
              onChange={(update) => edit((g) => ({ ...g, nodes: g.nodes.map((n) => (n.name === node.name ? { ...n, ...update } : n)) }))}
              onRename={(to) => { edit((g) => renameNode(g, node.name, to)); setSelected(to); }}
              onDelete={() => { edit((g) => removeNode(g, node.name)); setSelected(null); }}
              onOpenSubgraph={(name) => navigate(`/graphs/${enc(name)}`)}
            />
          ) : (
            <GraphProperties graph={graph} problemsOf={(field) => problemsOf(null, field).join("; ") || undefined} onChange={(update) => edit((g) => ({ ...g, ...update }))} />
          )}
        </aside>
      </div>
    </div>
  );
}

function GraphProperties({ graph, problemsOf, onChange }: { graph: Graph; problemsOf: (field: string) => string | undefined; onChange: (u: Partial<Graph>) => void }) {
  const { t } = useI18n();
  return (
    <div className="form">
      <h2>{t("editor.graph")}</h2>
      <Field label={t("field.graphName")} error={problemsOf("name")}>
        <input value={graph.name} onChange={(e) => onChange({ name: e.target.value })} data-testid="graph-name" />
      </Field>
      <Field label={t("field.description")}>
        <textarea value={graph.description ?? ""} onChange={(e) => onChange({ description: e.target.value })} />
      </Field>
      <Field label={t("field.endTemplate")} error={problemsOf("end_template")}>
        <textarea value={graph.end_template ?? ""} onChange={(e) => onChange({ end_template: e.target.value })} placeholder="{writer}" />
      </Field>
      {graph.version !== undefined && <p className="muted">{t("editor.version", { version: graph.version })}</p>}
      <p className="muted">{t("editor.hint")}</p>
    </div>
  );
}

interface NodePropertiesProps {
  node: GraphNode;
  models: string[];
  servers: string[];
  graphNames: string[];
  others: string[];
  problemsOf: (field: string) => string | undefined;
  onChange: (update: Partial<GraphNode>) => void;
  onRename: (name: string) => void;
  onDelete: () => void;
  onOpenSubgraph: (name: string) => void;
}

function NodeProperties({ node, models, servers, graphNames, others, problemsOf, onChange, onRename, onDelete, onOpenSubgraph }: NodePropertiesProps) {
  const { t } = useI18n();
  const [name, setName] = useState(node.name);
  useEffect(() => {
    setName(node.name);
  }, [node.name]);
  const toggle = (list: string[] | undefined, value: string, on: boolean) => (on ? [...(list ?? []), value] : (list ?? []).filter((x) => x !== value));
  return (
    <div className="form" data-testid="node-form">
      <h2>{node.is_subgraph ? t("editor.subgraphNode") : t("editor.node")}</h2>
      <Field label={t("field.nodeName")} error={problemsOf("name")}>
        <input
          value={name}
          data-testid="node-name"
          onChange={(e) => setName(e.target.value)}
          onBlur={() => name !== node.name && (others.includes(name) ? setName(node.name) : onRename(name))}
          onKeyDown={(e) => e.key === "Enter" && (e.target as HTMLInputElement).blur()}
        />
      </Field>
      <Field label={t("field.description")} error={problemsOf("description")}>
        <textarea value={node.description ?? ""} onChange={(e) => onChange({ description: e.target.value })} />
      </Field>
      {node.is_subgraph ? (
        <Field label={t("field.subgraph")} error={problemsOf("subgraph_name")}>
          <select value={node.subgraph_name ?? ""} onChange={(e) => onChange({ subgraph_name: e.target.value })}>
            <option value="">—</option>
            {graphNames.map((g) => <option key={g}>{g}</option>)}
          </select>
          {node.subgraph_name && <button className="link" onClick={() => onOpenSubgraph(node.subgraph_name!)}>{t("editor.openSubgraph")}</button>}
        </Field>
      ) : (
        <>
          <Field label={t("field.model")} error={problemsOf("model_name")}>
            <select value={node.model_name ?? ""} onChange={(e) => onChange({ model_name: e.target.value })} data-testid="node-model">
              <option value="">—</option>
              {models.map((m) => <option key={m}>{m}</option>)}
            </select>
          </Field>
          <Field label={t("field.systemPrompt")} error={problemsOf("system_prompt")}>
            <textarea rows={4} value={node.system_prompt ?? ""} onChange={(e) => onChange({ system_prompt: e.target.value })} data-testid="node-system" />
          </Field>
          <Field label={t("field.userPrompt")} error={problemsOf("user_prompt")}>
            <textarea rows={3} value={node.user_prompt ?? ""} onChange={(e) => onChange({ user_prompt: e.target.value })} />
          </Field>
          {servers.length > 0 && (
            <fieldset>
              <legend>{t("field.mcpServers")}</legend>
              {servers.map((s) => (
                <label key={s} className="check">
                  <input type="checkbox" checked={(node.mcp_servers ?? []).includes(s)} onChange={(e) => onChange({ mcp_servers: toggle(node.mcp_servers, s, e.target.checked) })} />
                  {s}
                </label>
              ))}
              {problemsOf("mcp_servers") && <small className="field-error">{problemsOf("mcp_servers")}</small>}
            </fieldset>
          )}
          <Field label={t("field.handoffs")} error={problemsOf("handoffs")}>
            <input type="number" min={0} value={node.handoffs ?? 0} onChange={(e) => onChange({ handoffs: Number(e.target.value) || null })} />
          </Field>
          <label className="check">
            <input type="checkbox" checked={node.output_enabled ?? true} onChange={(e) => onChange({ output_enabled: e.target.checked })} />
            {t("field.outputEnabled")}
          </label>
          <label className="check">
            <input type="checkbox" checked={node.global_output ?? false} onChange={(e) => onChange({ global_output: e.target.checked })} />
            {t("field.globalOutput")}
          </label>
          <fieldset>
            <legend>{t("field.context")}</legend>
            {others.map((o) => (
              <label key={o} className="check">
                <input type="checkbox" checked={(node.context ?? []).includes(o)} onChange={(e) => onChange({ context: toggle(node.context, o, e.target.checked) })} />
                {o}
              </label>
            ))}
          </fieldset>
          <Field label={t("field.contextMode")} error={problemsOf("context_mode")}>
            <select value={node.context_mode ?? "all"} onChange={(e) => onChange({ context_mode: e.target.value })}>
              <option value="all">all</option>
              <option value="latest">latest</option>
              <option value="latest_n">latest_n</option>
            </select>
          </Field>
          {node.context_mode === "latest_n" && (
            <Field label={t("field.contextN")} error={problemsOf("context_n")}>
              <input type="number" min={1} value={node.context_n ?? 1} onChange={(e) => onChange({ context_n: Number(e.target.value) })} />
            </Field>
          )}
          <Field label={t("field.save")} error={problemsOf("save")}>
            <input value={node.save ?? ""} placeholder="md" onChange={(e) => onChange({ save: e.target.value || null })} />
          </Field>
        </>
      )}
      <p className="muted">{t("field.inputs")}: {node.input_nodes.join(", ") || "—"}<br />{t("field.outputs")}: {node.output_nodes.join(", ") || "—"}</p>
      <button className="danger" onClick={onDelete}>{t("editor.deleteNode")}</button>
    </div>
  );
}
