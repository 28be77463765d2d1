import { Background, Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { memo, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { enc, get, post, stream } from "../api";
import { ErrorText, Markdown, useLoad } from "../components";
import { edgesOf, positionOf, terminalPositions, type Graph } from "../graph";
import { useI18n } from "../i18n";

export type NodeState = "pending" | "running" | "done" | "skipped" | "failed";

export interface NodeRun {
  state: NodeState;
  startedAt?: number;
  endedAt?: number;
  output: string;
  tools: { id: string; name: string; args: string; result?: string }[];
  tokens: number;
  error?: string;
}

export interface RunState {
  conversationId: string | null;
  nodes: Record<string, NodeRun>;
  startedAt: number;
  finalResult: string | null;
  errors: string[];
  notices: string[];
}

interface StoredRun { status: string; error: string | null; final_result: string | null; nodes: Record<string, { status: string; output?: string }> }

const fresh = (): NodeRun => ({ state: "pending", output: "", tools: [], tokens: 0 });

/** Fold one event of /graphs/execute (interleaved) into the run's state; `now` is when it arrived. */
export function applyRunEvent(run: RunState, event: Record<string, unknown>, now: number): RunState {
  const name = typeof event.node_name === "string" ? event.node_name : null;
  const nodes = { ...run.nodes };
  const node = name ? { ...(nodes[name] ?? fresh()) } : null;
  const put = () => {
    if (name && node) nodes[name] = node;
    return { ...run, nodes };
  };
  if (event.type === "conversation_created") return { ...run, conversationId: String(event.conversation_id) };
  if (event.type === "graph_complete") return { ...run, finalResult: String(event.final_result ?? "") };
  if (event.type === "notice") return { ...run, notices: [...run.notices, String(event.message ?? "")] };
  if (name === "start") return run;
  if (event.type === "node_start" && node) {
    Object.assign(node, { state: "running", startedAt: now, endedAt: undefined, output: "", tools: [] });
    return put();
  }
  if (event.type === "node_end" && node) {
    node.state = node.state === "failed" ? "failed" : "done";
    node.endedAt = now;
    return put();
  }
  if (event.error) {
    const message = String((event.error as { message?: string }).message ?? event.error);
    if (node) {
      node.state = "failed";
      node.error = message;
      node.endedAt ??= now;
      return put();
    }
    return { ...run, errors: [...run.errors, message] };
  }
  if (!node) return run;
  if (event.role === "tool") {
    node.tools = node.tools.map((t) => (t.id === event.tool_call_id ? { ...t, result: String(event.content ?? "") } : t));
    return put();
  }
  const usage = event.usage as { total_tokens?: number } | null | undefined;
  if (usage?.total_tokens) node.tokens += usage.total_tokens;
  const delta = (event.choices as { delta?: Record<string, unknown> }[] | undefined)?.[0]?.delta;
  if (delta) {
    if (typeof delta.content === "string") node.output += delta.content;
    for (const call of (delta.tool_calls as { index: number; id?: string; function?: { name?: string; arguments?: string } }[]) ?? []) {
      const key = call.id ?? `${event.id}:${call.index}`;
      const existing = node.tools.find((t) => t.id === key) ?? node.tools[node.tools.length - 1];
      if (call.id || !existing) node.tools = [...node.tools, { id: key, name: call.function?.name ?? "", args: call.function?.arguments ?? "" }];
      else node.tools = node.tools.map((t) => (t === existing ? { ...t, args: t.args + (call.function?.arguments ?? "") } : t));
    }
  }
  return put();
}

type RunNodeData = { label: string; state: NodeState; info: string };
const RunNodeView = memo(function RunNodeView({ data }: NodeProps<Node<RunNodeData>>) {
  return (
    <div className={`agent-node run-${data.state}`} data-testid={`run-node-${data.label}`} data-state={data.state}>
      <Handle type="target" position={Position.Left} />
      <div className="agent-name">{data.label}</div>
      <div className="agent-meta">{data.info}</div>
      <Handle type="source" position={Position.Right} />
    </div>
  );
});
const TerminalView = ({ data }: NodeProps<Node<{ label: string }>>) => (
  <div className="terminal-node"><Handle type="target" position={Position.Left} />{data.label}<Handle type="source" position={Position.Right} /></div>
);
const nodeTypes = { run: RunNodeView, terminal: TerminalView };

function Timeline({ run, order, now, onPick }: { run: RunState; order: string[]; now: number; onPick: (n: string) => void }) {
  const { t } = useI18n();
  const ends = order.map((n) => run.nodes[n]?.endedAt ?? (run.nodes[n]?.startedAt ? now : run.startedAt));
  const span = Math.max(1, Math.max(run.startedAt + 1, ...ends) - run.startedAt);
  return (
    <div className="timeline" data-testid="timeline">
      {order.map((name) => {
        const n = run.nodes[name];
        const start = n?.startedAt;
        const end = n?.endedAt ?? (start ? now : undefined);
        return (
          <div key={name} className="timeline-row" onClick={() => onPick(name)}>
            <span className="timeline-label">{name}</span>
            <div className="timeline-track">
              {start !== undefined && end !== undefined && (
                <div
                  className={`timeline-bar run-${n!.state}`}
                  data-testid={`bar-${name}`}
                  data-start={start - run.startedAt}
                  data-end={end - run.startedAt}
                  style={{ left: `${((start - run.startedAt) / span) * 100}%`, width: `${Math.max(0.5, ((end - start) / span) * 100)}%` }}
                  title={`${((end - start) / 1000).toFixed(2)} s`}
                />
              )}
            </div>
            <span className="timeline-meta">{n ? t(`state.${n.state}`) : t("state.pending")}{start !== undefined && end !== undefined ? ` · ${((end - start) / 1000).toFixed(2)} s` : ""}</span>
          </div>
        );
      })}
    </div>
  );
}

export default function RunPage() {
  const { t } = useI18n();
  const { name = "" } = useParams();
  const graph = useLoad(() => get<Graph>(`/graphs/${enc(name)}`), [name]);
  const [input, setInput] = useState("");
  const [run, setRun] = useState<RunState | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [picked, setPicked] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const abort = useRef<AbortController | null>(null);
  const history = useLoad(() => get<{ conversations: { conversation_id: string; title: string; type: string; created_at: string; status: string }[] }>("/chat/conversations"), [name, busy]);

  useEffect(() => {
    if (!busy) return;
    const timer = window.setInterval(() => setNow(Date.now()), 100);
    return () => window.clearInterval(timer);
  }, [busy]);

  async function execute(body: Record<string, unknown>, base: RunState) {
    setError(null);
    setBusy(true);
    setRun(base);
    const controller = new AbortController();
    abort.current = controller;
    let conversationId = base.conversationId;
    try {
      await stream("/graphs/execute", { ...body, stream_mode: "interleaved", background: true }, (event) => {
        if (event.type === "conversation_created") conversationId = String(event.conversation_id);
        setRun((r) => (r ? applyRunEvent(r, event, Date.now()) : r));
      }, controller.signal);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
      abort.current = null;
      setNow(Date.now());
    }
    if (conversationId) await settle(conversationId);
  }

  /** After the stream: nodes that never started are skipped (or pending if the run stopped early). */
  async function settle(conversationId: string) {
    try {
      const status = await get<StoredRun>(`/graphs/runs/${enc(conversationId)}`);
      setRun((r) => {
        if (!r) return r;
        const nodes = { ...r.nodes };
        for (const node of graph.data?.nodes ?? []) {
          const stored = status.nodes[node.name]?.status;
          const current = nodes[node.name] ?? fresh();
          if (current.state === "pending" || current.state === "running") {
            const state: NodeState = stored === "failed" ? "failed" : stored === "completed" ? "done" : status.status === "completed" ? "skipped" : "pending";
            nodes[node.name] = { ...current, state, endedAt: current.endedAt ?? (current.startedAt ? Date.now() : undefined) };
          }
        }
        return { ...r, nodes, finalResult: r.finalResult ?? (status.status === "completed" ? status.final_result : null) };
      });
    } catch {
      /* the live view stays as streamed */
    }
  }

  /** Show a stored run (from the history): node states and outputs, the result; resumable if unfinished. */
  async function open(conversationId: string) {
    setError(null);
    try {
      const stored = await get<StoredRun>(`/graphs/runs/${enc(conversationId)}`);
      const nodes = Object.fromEntries((graph.data?.nodes ?? []).map((n) => {
        const s = stored.nodes[n.name];
        const state: NodeState = s?.status === "completed" ? "done" : s?.status === "failed" ? "failed" : stored.status === "completed" ? "skipped" : "pending";
        return [n.name, { ...fresh(), state, output: s?.output ?? "" }];
      }));
      setRun({ conversationId, nodes, startedAt: Date.now(), finalResult: stored.status === "completed" ? stored.final_result ?? "" : null, errors: stored.error ? [stored.error] : [], notices: [] });
      setPicked(null);
    } catch (err) {
      setError(err);
    }
  }

  function start() {
    if (!input.trim()) {
      setError(new Error(t("run.inputRequired")));
      return;
    }
    const nodes = Object.fromEntries((graph.data?.nodes ?? []).map((n) => [n.name, fresh()]));
    void execute({ graph_name: name, input_text: input }, { conversationId: null, nodes, startedAt: Date.now(), finalResult: null, errors: [], notices: [] });
  }
  function resume() {
    if (!run?.conversationId) return;
    void execute({ conversation_id: run.conversationId, continue_from_checkpoint: true }, { ...run, startedAt: Date.now(), errors: [], finalResult: null });
  }
  async function cancel() {
    if (run?.conversationId) {
      try {
        await post(`/graphs/runs/${enc(run.conversationId)}/cancel`);
      } catch (err) {
        setError(err);
      }
    }
  }

  const g = graph.data;
  const order = useMemo(() => (g ? g.nodes.map((n) => n.name).sort((a, b) => (run?.nodes[a]?.startedAt ?? Infinity) - (run?.nodes[b]?.startedAt ?? Infinity)) : []), [g, run]);
  const rfNodes: Node[] = useMemo(() => {
    if (!g) return [];
    const ends = terminalPositions(g);
    return [
      { id: "start", type: "terminal", position: ends.start, data: { label: t("editor.start") } },
      { id: "end", type: "terminal", position: ends.end, data: { label: t("editor.end") } },
      ...g.nodes.map((n, i) => {
        const r = run?.nodes[n.name];
        const state = r?.state ?? "pending";
        const seconds = r?.startedAt ? (((r.endedAt ?? now) - r.startedAt) / 1000).toFixed(1) + " s" : "";
        return { id: n.name, type: "run", position: positionOf(g, n, i), data: { label: n.name, state, info: [t(`state.${state}`), seconds, r?.tokens ? `${r.tokens} tok` : ""].filter(Boolean).join(" · ") } };
      }),
    ];
  }, [g, run, now, t]);
  const rfEdges: Edge[] = useMemo(() => (g ? edgesOf(g).map((e) => ({ id: `${e.source}->${e.target}`, source: e.source, target: e.target, animated: run?.nodes[e.target]?.state === "running", className: e.back ? "edge-back" : e.handoff ? "edge-handoff" : "", markerEnd: { type: MarkerType.ArrowClosed } })) : []), [g, run]);

  const detail = picked && run ? run.nodes[picked] : null;
  const runs = (history.data?.conversations ?? []).filter((c) => c.type === "graph" && c.title.startsWith(`${name}:`));
  return (
    <div className="run-page">
      <div className="toolbar">
        <Link to={`/graphs/${enc(name)}`}>← {name}</Link>
        <h1>{t("run.title", { name })}</h1>
        <span className="spacer" />
        {busy && <button className="danger" onClick={() => void cancel()} data-testid="cancel">{t("run.cancel")}</button>}
        {!busy && run?.conversationId && !run.finalResult && <button onClick={resume} data-testid="resume">{t("run.resume")}</button>}
      </div>
      <ErrorText error={graph.error ?? error} />
      <div className="run-input">
        <textarea rows={2} value={input} placeholder={t("run.inputPlaceholder")} aria-label={t("run.inputPlaceholder")} onChange={(e) => setInput(e.target.value)} data-testid="run-input"
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) { e.preventDefault(); if (!busy) start(); } }} />
        <button className="primary" disabled={busy || !g} onClick={start} data-testid="start-run">▶ {t("run.start")}</button>
      </div>
      <div className="run-body">
        <div className="canvas run-canvas">
          {g && (
            <ReactFlow nodes={rfNodes} edges={rfEdges} nodeTypes={nodeTypes} nodesConnectable={false} nodesDraggable={false} onNodeClick={(_, n) => n.type === "run" && setPicked(n.id)} fitView fitViewOptions={{ maxZoom: 1 }}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          )}
        </div>
        <aside className="properties">
          {detail && picked ? (
            <div data-testid="node-detail">
              <h2>{picked}</h2>
              <p className="muted">{t(`state.${detail.state}`)}{detail.startedAt ? ` · ${(((detail.endedAt ?? now) - detail.startedAt) / 1000).toFixed(2)} s` : ""} · {detail.tokens} {t("run.tokens")}</p>
              {detail.error && <p className="error">{detail.error}</p>}
              {detail.tools.map((tool) => (
                <details key={tool.id} className="tool-call"><summary>🔧 {tool.name}</summary><pre>{tool.args}</pre>{tool.result !== undefined && <pre>{tool.result}</pre>}</details>
              ))}
              <Markdown text={detail.output} />
            </div>
          ) : (
            <div>
              <h2>{t("run.history")}</h2>
              <ul className="plain" data-testid="run-history">
                {runs.slice(0, 20).map((c) => (
                  <li key={c.conversation_id}>
                    <button className="link" title={c.conversation_id} disabled={busy} onClick={() => void open(c.conversation_id)}>{c.title}</button>{" "}
                    <span className="muted">{new Date(c.created_at).toLocaleString()}</span>
                  </li>
                ))}
                {runs.length === 0 && <li className="muted">{t("run.noHistory")}</li>}
              </ul>
            </div>
          )}
        </aside>
      </div>
      {run && <Timeline run={run} order={order} now={now} onPick={setPicked} />}
      {run?.errors.map((e, i) => <p key={i} className="error">{e}</p>)}
      {run?.notices.map((e, i) => <p key={i} className="muted">{e}</p>)}
      {run?.finalResult !== null && run?.finalResult !== undefined && (
        <section className="final" data-testid="final-result">
          <h2>{t("run.final")}</h2>
          <Markdown text={run.finalResult} />
        </section>
      )}
    </div>
  );
}
