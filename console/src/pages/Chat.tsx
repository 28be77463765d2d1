import { useEffect, useRef, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { enc, get, stream } from "../api";
import { ErrorText, Markdown, newId, useLoad } from "../components";
import { useI18n } from "../i18n";

interface ToolPart { kind: "tool"; key: string; id: string; name: string; args: string; result?: string }
interface TextPart { kind: "text"; text: string }
type Part = TextPart | ToolPart;
interface Message { role: "user" | "assistant"; parts: Part[]; error?: string }

interface ModelInfo { name: string }
type McpStatus = Record<string, { connected: boolean }>;

/** Fold one SSE event of /chat/completions into the assistant message being streamed. */
export function applyChatEvent(message: Message, event: Record<string, unknown>): Message {
  const parts = [...message.parts];
  if (event.error) {
    return { ...message, error: String((event.error as { message?: string }).message ?? event.error) };
  }
  if (event.role === "tool") {
    const id = String(event.tool_call_id);
    const index = parts.findIndex((p) => p.kind === "tool" && p.id === id);
    if (index >= 0) parts[index] = { ...(parts[index] as ToolPart), result: String(event.content ?? "") };
    return { ...message, parts };
  }
  const choice = (event.choices as { delta?: Record<string, unknown> }[] | undefined)?.[0];
  const delta = choice?.delta;
  if (!delta) return message;
  if (typeof delta.content === "string" && delta.content) {
    const last = parts[parts.length - 1];
    if (last?.kind === "text") parts[parts.length - 1] = { kind: "text", text: last.text + delta.content };
    else parts.push({ kind: "text", text: delta.content });
  }
  for (const call of (delta.tool_calls as { index: number; id?: string; function?: { name?: string; arguments?: string } }[]) ?? []) {
    const key = `${event.id}:${call.index}`;
    const index = parts.findIndex((p) => p.kind === "tool" && p.key === key);
    if (index < 0) {
      parts.push({ kind: "tool", key, id: call.id ?? key, name: call.function?.name ?? "", args: call.function?.arguments ?? "" });
    } else {
      const part = parts[index] as ToolPart;
      parts[index] = {
        ...part,
        id: call.id ?? part.id,
        name: part.name + (call.function?.name ?? ""),
        args: part.args + (call.function?.arguments ?? ""),
      };
    }
  }
  return { ...message, parts };
}

interface StoredMessage { role: string; content?: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }

/** A stored conversation (GET /chat/conversations/{id}) as the chat shows it. */
export function messagesOf(rounds: { messages: StoredMessage[] }[]): Message[] {
  const list: Message[] = [];
  for (const stored of rounds.flatMap((r) => r.messages)) {
    const last = list[list.length - 1];
    if (stored.role === "user") list.push({ role: "user", parts: [{ kind: "text", text: stored.content ?? "" }] });
    else if (stored.role === "assistant") {
      const target = last?.role === "assistant" ? last : (list.push({ role: "assistant", parts: [] }), list[list.length - 1]);
      if (stored.content) target.parts.push({ kind: "text", text: stored.content });
      for (const call of stored.tool_calls ?? []) target.parts.push({ kind: "tool", key: call.id, id: call.id, name: call.function.name, args: call.function.arguments });
    } else if (stored.role === "tool" && last?.role === "assistant") {
      const part = last.parts.find((p) => p.kind === "tool" && p.id === stored.tool_call_id) as ToolPart | undefined;
      if (part) part.result = stored.content ?? "";
    }
  }
  return list;
}

function ToolCall({ part }: { part: ToolPart }) {
  const { t } = useI18n();
  return (
    <details className="tool-call">
      <summary>
        🔧 {part.name} {part.result === undefined ? <em>{t("chat.toolRunning")}</em> : <em>{t("chat.toolDone")}</em>}
      </summary>
      <div className="tool-label">{t("chat.arguments")}</div>
      <pre>{part.args}</pre>
      {part.result !== undefined && (
        <>
          <div className="tool-label">{t("chat.result")}</div>
          <pre>{part.result}</pre>
        </>
      )}
    </details>
  );
}

export function ChatPage() {
  const { t } = useI18n();
  const models = useLoad(() => get<ModelInfo[]>("/models"));
  const servers = useLoad(() => get<McpStatus>("/mcp/status"));
  const [model, setModel] = useState("");
  const [chosenServers, setChosenServers] = useState<string[]>([]);
  const [messages, setMessages] = useState<Message[]>([]);
  const [input, setInput] = useState("");
  const [conversationId, setConversationId] = useState(newId);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const abort = useRef<AbortController | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const [params] = useSearchParams();
  const continued = params.get("conversation");

  useEffect(() => {
    if (!continued) return;
    get<{ rounds: { messages: StoredMessage[] }[] }>(`/chat/conversations/${enc(continued)}`).then((detail) => {
      setConversationId(continued);
      setMessages(messagesOf(detail.rounds));
    }, setError);
  }, [continued]);

  useEffect(() => {
    if (models.data?.length === 1 && !model) setModel(models.data[0].name);
  }, [models.data, model]);
  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" }); // (recent browsers return a promise: not a cleanup)
  }, [messages]);

  async function send() {
    const text = input.trim();
    if (!text || busy) return;
    if (!model) {
      setError(new Error(t("chat.chooseModel")));
      return;
    }
    setError(null);
    setInput("");
    setBusy(true);
    setMessages((list) => [...list, { role: "user", parts: [{ kind: "text", text }] }, { role: "assistant", parts: [] }]);
    const controller = new AbortController();
    abort.current = controller;
    const update = (event: Record<string, unknown>) =>
      setMessages((list) => [...list.slice(0, -1), applyChatEvent(list[list.length - 1], event)]);
    try {
      await stream(
        "/chat/completions",
        { user_prompt: text, model_name: model, mcp_servers: chosenServers, conversation_id: conversationId },
        update,
        controller.signal,
      );
    } catch (err) {
      if ((err as Error).name !== "AbortError") setError(err);
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  const serverNames = Object.keys(servers.data ?? {});
  return (
    <div className="chat page">
      <div className="toolbar">
        <label>
          {t("chat.model")}{" "}
          <select value={model} onChange={(e) => setModel(e.target.value)} data-testid="chat-model">
            <option value="">{t("chat.chooseModel")}</option>
            {(models.data ?? []).map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
          </select>
        </label>
        {serverNames.length > 0 && (
          <fieldset className="inline">
            <legend>{t("chat.servers")}</legend>
            {serverNames.map((name) => (
              <label key={name}>
                <input
                  type="checkbox"
                  checked={chosenServers.includes(name)}
                  onChange={(e) =>
                    setChosenServers((list) => (e.target.checked ? [...list, name] : list.filter((n) => n !== name)))
                  }
                />
                {name}
              </label>
            ))}
          </fieldset>
        )}
        <span className="spacer" />
        <button onClick={() => { setMessages([]); setConversationId(newId()); }} disabled={busy}>{t("chat.new")}</button>
      </div>
      <ErrorText error={models.error} />
      <div className="messages" data-testid="messages">
        {messages.length === 0 && <p className="muted">{t("chat.empty")}</p>}
        {messages.map((m, i) => (
          <div key={i} className={`message ${m.role}`} data-testid={`message-${m.role}`}>
            {m.parts.map((p, j) => (p.kind === "text" ? <Markdown key={j} text={p.text} /> : <ToolCall key={p.key} part={p} />))}
            {m.role === "assistant" && busy && i === messages.length - 1 && <span className="cursor">▍</span>}
            {m.error && <p className="error">{m.error}</p>}
          </div>
        ))}
        <div ref={bottom} />
      </div>
      <ErrorText error={error} />
      <div className="composer">
        <textarea
          value={input}
          placeholder={t("chat.placeholder")}
          aria-label={t("chat.placeholder")}
          rows={3}
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void send();
            }
          }}
        />
        {busy ? (
          <button onClick={() => abort.current?.abort()} data-testid="stop">{t("chat.stop")}</button>
        ) : (
          <button className="primary" onClick={() => void send()} disabled={!input.trim()}>{t("chat.send")}</button>
        )}
      </div>
    </div>
  );
}
