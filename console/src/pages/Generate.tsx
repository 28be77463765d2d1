import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { enc, get, stream } from "../api";
import { ErrorText, useLoad } from "../components";
import { useI18n } from "../i18n";

type Kind = "graph" | "tool";
interface Turn { role: "user" | "assistant"; text: string }
interface Outcome { kind: "completion" | "incomplete" | "error"; message: string; graph?: string; details: string[] }

const FINISH = "<end>END</end>";

/** Design a graph or an MCP tool with a model, turn by turn; "Finish" checks and saves the design. */
export function GeneratePage() {
  const { t } = useI18n();
  const models = useLoad(() => get<{ name: string }[]>("/models"));
  const [kind, setKind] = useState<Kind>("graph");
  const [model, setModel] = useState("");
  const [input, setInput] = useState("");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [conversationId, setConversationId] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    if (models.data?.length === 1 && !model) setModel(models.data[0].name);
  }, [models.data, model]);

  async function send(requirement: string) {
    if (!requirement.trim() || busy) return;
    if (!model && requirement !== FINISH) {
      setError(new Error(t("chat.chooseModel")));
      return;
    }
    setError(null);
    setOutcome(null);
    setBusy(true);
    setInput("");
    if (requirement !== FINISH) setTurns((list) => [...list, { role: "user", text: requirement }, { role: "assistant", text: "" }]);
    let id = conversationId;
    try {
      await stream(kind === "graph" ? "/graphs/generate" : "/mcp/generate", { requirement, model_name: model, conversation_id: id }, (event) => {
        if (event.type === "conversation_created") {
          id = String(event.conversation_id);
          setConversationId(id);
        }
        const delta = (event.choices as { delta?: { content?: string } }[] | undefined)?.[0]?.delta?.content;
        if (delta) setTurns((list) => [...list.slice(0, -1), { role: "assistant", text: list[list.length - 1].text + delta }]);
        const done = event.completion as { graph_name?: string; tool_name?: string; message?: string } | undefined;
        if (done) setOutcome({ kind: "completion", message: done.message ?? "", graph: done.graph_name, details: [] });
        const incomplete = event.incomplete as { message?: string; missing_fields?: string[]; problems?: { node?: string; field?: string; message: string }[] } | undefined;
        if (incomplete) {
          const details = [
            ...(incomplete.missing_fields ?? []).map((f) => t("generate.missing", { field: f })),
            ...(incomplete.problems ?? []).map((p) => [p.node, p.field].filter(Boolean).join(" · ") + ": " + p.message),
          ];
          setOutcome({ kind: "incomplete", message: incomplete.message ?? "", details });
        }
        const failure = event.error as { message?: string } | undefined;
        if (failure) setOutcome({ kind: "error", message: failure.message ?? String(failure), details: [] });
      });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="chat page">
      <div className="toolbar">
        <h1>{t("generate.title")}</h1>
        <select value={kind} onChange={(e) => { setKind(e.target.value as Kind); setTurns([]); setConversationId(null); setOutcome(null); }} aria-label={t("generate.kind")} disabled={busy}>
          <option value="graph">{t("generate.graph")}</option>
          <option value="tool">{t("generate.tool")}</option>
        </select>
        <select value={model} onChange={(e) => setModel(e.target.value)} aria-label={t("chat.model")}>
          <option value="">{t("chat.chooseModel")}</option>
          {(models.data ?? []).map((m) => <option key={m.name}>{m.name}</option>)}
        </select>
        <span className="spacer" />
        <button onClick={() => { setTurns([]); setConversationId(null); setOutcome(null); }} disabled={busy}>{t("chat.new")}</button>
      </div>
      <div className="messages" data-testid="generation">
        {turns.length === 0 && <p className="muted">{t(kind === "graph" ? "generate.hintGraph" : "generate.hintTool")}</p>}
        {turns.map((turn, i) => (
          <div key={i} className={`message ${turn.role}`}><pre className="design">{turn.text}</pre></div>
        ))}
      </div>
      {outcome && (
        <div className={outcome.kind === "completion" ? "final" : "error"} role="status" data-testid="generation-outcome">
          <strong>{outcome.message}</strong>
          {outcome.graph && <> <Link to={`/graphs/${enc(outcome.graph)}`}>{t("generate.openGraph")}</Link></>}
          {outcome.details.length > 0 && <ul>{outcome.details.map((d) => <li key={d}>{d}</li>)}</ul>}
        </div>
      )}
      <ErrorText error={error} />
      <div className="composer">
        <textarea rows={3} value={input} placeholder={t("generate.placeholder")} aria-label={t("generate.placeholder")} onChange={(e) => setInput(e.target.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) { e.preventDefault(); void send(input); } }} />
        <button className="primary" disabled={busy || !input.trim()} onClick={() => void send(input)}>{t("chat.send")}</button>
        <button disabled={busy || !conversationId} onClick={() => void send(FINISH)} data-testid="finish">{t("generate.finish")}</button>
      </div>
    </div>
  );
}
