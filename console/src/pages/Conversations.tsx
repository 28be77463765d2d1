import { useState } from "react";
import { Link } from "react-router-dom";
import { del, enc, get, post, put } from "../api";
import { ErrorText, Field, fieldError, Markdown, useLoad } from "../components";
import { useI18n } from "../i18n";

interface Summary {
  conversation_id: string;
  title: string;
  type: string;
  status: "active" | "favorite" | "deleted";
  tags: string[];
  updated_at: string;
  round_count: number;
  total_token_usage?: { total_tokens?: number };
}
interface StoredMessage { role: string; content?: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }
interface Detail extends Summary { graph_name?: string; rounds: { round: number; node_name?: string; messages: StoredMessage[] }[] }

type View = "all" | "favorite" | "deleted";

export function ConversationsPage() {
  const { t } = useI18n();
  const [view, setView] = useState<View>("all");
  const [query, setQuery] = useState("");
  const [picked, setPicked] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const list = useLoad(() => {
    const statuses = view === "all" ? "status=active&status=favorite" : `status=${view}`;
    return get<{ conversations: Summary[] }>(`/chat/conversations?${statuses}`);
  }, [view]);
  const detail = useLoad(() => (picked ? get<Detail>(`/chat/conversations/${enc(picked)}`) : Promise.resolve(null)), [picked]);

  async function act(run: () => Promise<unknown>, after?: () => void) {
    setError(null);
    try {
      await run();
      list.reload();
      detail.reload();
      after?.();
    } catch (err) {
      setError(err);
    }
  }

  const needle = query.trim().toLowerCase();
  const shown = (list.data?.conversations ?? []).filter(
    (c) => !needle || c.title.toLowerCase().includes(needle) || c.tags.some((tag) => tag.toLowerCase().includes(needle)),
  );
  const d = detail.data;
  return (
    <div className="split">
      <aside className="list-pane">
        <div className="tabs" role="tablist">
          {(["all", "favorite", "deleted"] as View[]).map((v) => (
            <button key={v} role="tab" aria-selected={view === v} className={view === v ? "active" : ""} onClick={() => { setView(v); setPicked(null); }}>
              {t(`conversations.${v}`)}
            </button>
          ))}
        </div>
        <input placeholder={t("conversations.search")} aria-label={t("conversations.search")} value={query} onChange={(e) => setQuery(e.target.value)} />
        <ErrorText error={list.error} />
        <ul className="plain conversation-list" data-testid="conversations">
          {shown.map((c) => (
            <li key={c.conversation_id} className={picked === c.conversation_id ? "picked" : ""} onClick={() => setPicked(c.conversation_id)}>
              <div className="conversation-title">{c.status === "favorite" ? "★ " : ""}{c.title || c.conversation_id}</div>
              <div className="muted small">{c.type} · {new Date(c.updated_at).toLocaleString()} · {c.tags.join(", ")}</div>
            </li>
          ))}
          {list.data && shown.length === 0 && <li className="muted">{t("conversations.none")}</li>}
        </ul>
      </aside>
      <section className="detail-pane">
        <ErrorText error={detail.error ?? error} />
        {!d && <p className="muted">{t("conversations.pick")}</p>}
        {d && <ConversationDetail key={d.conversation_id + d.updated_at} detail={d} error={error} act={act} onGone={() => setPicked(null)} />}
      </section>
    </div>
  );
}

function ConversationDetail({ detail, error, act, onGone }: { detail: Detail; error: unknown; act: (run: () => Promise<unknown>, after?: () => void) => Promise<void>; onGone: () => void }) {
  const { t } = useI18n();
  const [title, setTitle] = useState(detail.title);
  const [tags, setTags] = useState(detail.tags.join(", "));
  const [compactMessage, setCompactMessage] = useState<string | null>(null);
  const id = enc(detail.conversation_id);
  const path = `/chat/conversations/${id}`;
  const tagList = tags.split(",").map((x) => x.trim()).filter(Boolean);
  const tagProblem = tagList.some((x) => x.length > 20) ? t("conversations.tagTooLong") : tagList.length > 10 ? t("conversations.tooManyTags") : undefined;
  return (
    <div className="form" data-testid="conversation-detail">
      <div className="toolbar">
        <h2>{detail.title || detail.conversation_id}</h2>
        <span className="spacer" />
        {detail.type !== "graph" && detail.status !== "deleted" && <Link className="button" to={`/chat?conversation=${id}`}>{t("conversations.continue")}</Link>}
        {detail.graph_name && <Link className="button" to={`/graphs/${enc(detail.graph_name)}/run`}>{t("conversations.openGraph")}</Link>}
        {detail.status === "active" && <button onClick={() => void act(() => put(`${path}/status`, { status: "favorite" }))}>☆ {t("conversations.favorite")}</button>}
        {detail.status === "favorite" && <button onClick={() => void act(() => put(`${path}/status`, { status: "active" }))}>★ {t("conversations.unfavorite")}</button>}
        {detail.status !== "deleted" && <button className="danger" onClick={() => void act(() => put(`${path}/status`, { status: "deleted" }), onGone)}>{t("conversations.trash")}</button>}
        {detail.status === "deleted" && <button onClick={() => void act(() => put(`${path}/status`, { status: "active" }), onGone)}>{t("conversations.restore")}</button>}
        {detail.status === "deleted" && (
          <button className="danger" onClick={() => window.confirm(t("conversations.confirmDelete")) && void act(() => del(`${path}/permanent`), onGone)}>
            {t("conversations.deleteForever")}
          </button>
        )}
      </div>
      <div className="row-fields">
        <Field label={t("conversations.title")} error={title.length > 100 ? t("conversations.titleTooLong") : fieldError(error, "title")}>
          <input value={title} onChange={(e) => setTitle(e.target.value)} data-testid="conversation-title" />
        </Field>
        <button disabled={title.length > 100 || title === detail.title} onClick={() => void act(() => put(`${path}/title`, { title }))}>{t("common.save")}</button>
        <Field label={t("conversations.tags")} error={tagProblem ?? fieldError(error, "tags")}>
          <input value={tags} onChange={(e) => setTags(e.target.value)} data-testid="conversation-tags" />
        </Field>
        <button disabled={Boolean(tagProblem) || tagList.join(",") === detail.tags.join(",")} onClick={() => void act(() => put(`${path}/tags`, { tags: tagList }))}>{t("common.save")}</button>
      </div>
      {detail.type !== "graph" && (
        <div className="toolbar">
          <button onClick={() => void act(async () => {
            const answer = await post<{ message?: string }>(`${path}/compact`, { conversation_id: detail.conversation_id, compact_type: "brutal" });
            setCompactMessage(answer.message ?? t("conversations.compacted"));
          })}>{t("conversations.compact")}</button>
          {compactMessage && <span className="ok" role="status">{compactMessage}</span>}
        </div>
      )}
      <p className="muted">{t("conversations.stats", { rounds: detail.round_count, tokens: detail.total_token_usage?.total_tokens ?? 0 })}</p>
      <div className="messages">
        {detail.rounds.map((round) => (
          <div key={round.round + (round.node_name ?? "")} className="round">
            {round.node_name && <div className="muted small">{round.node_name}</div>}
            {round.messages.filter((m) => m.role !== "system").map((m, i) => (
              <div key={i} className={`message ${m.role === "user" ? "user" : "assistant"}`}>
                {m.role === "tool" ? (
                  <details className="tool-call"><summary>🔧 {t("chat.result")}</summary><pre>{m.content}</pre></details>
                ) : (
                  <>
                    {m.content && <Markdown text={m.content} />}
                    {m.tool_calls?.map((c) => (
                      <details key={c.id} className="tool-call"><summary>🔧 {c.function.name}</summary><pre>{c.function.arguments}</pre></details>
                    ))}
                  </>
                )}
              </div>
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}
