import { useEffect, useState } from "react";
import { enc, get, post } from "../api";
import { ErrorText, Field, useLoad } from "../components";
import { useI18n } from "../i18n";

interface ServerStatus { connected: boolean; status?: string; tools?: string[]; lastError?: string | null; error?: string | null; nextRetryAt?: string | null; transport_type?: string }
interface Tool { name: string; description?: string; input_schema?: unknown }

export function McpPage() {
  const { t } = useI18n();
  const status = useLoad(() => get<Record<string, ServerStatus>>("/mcp/status"));
  const tools = useLoad(() => get<Record<string, Tool[]>>("/mcp/tools"));
  const [json, setJson] = useState("");
  const [jsonError, setJsonError] = useState<string | undefined>();
  const [error, setError] = useState<unknown>(null);
  const [testing, setTesting] = useState<{ server: string; tool: Tool; params: string; result?: string } | null>(null);

  useEffect(() => {
    const timer = window.setInterval(() => { // live status; tools appear as servers connect
      status.reload();
      tools.reload();
    }, 3000);
    return () => window.clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  async function act(path: string, body?: unknown) {
    setError(null);
    try {
      await post(path, body);
      status.reload();
      tools.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function add() {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (err) {
      setJsonError(t("mcp.badJson", { message: (err as Error).message }));
      return;
    }
    setJsonError(undefined);
    try {
      await post("/mcp/add", parsed);
      setJson("");
      status.reload();
      tools.reload();
    } catch (err) {
      setJsonError((err as Error).message);
    }
  }

  async function runTest() {
    if (!testing) return;
    let params: unknown;
    try {
      params = JSON.parse(testing.params || "{}");
    } catch (err) {
      setTesting({ ...testing, result: t("mcp.badJson", { message: (err as Error).message }) });
      return;
    }
    try {
      const answer = await post<Record<string, unknown>>("/mcp/test-tool", { server_name: testing.server, tool_name: testing.tool.name, params });
      setTesting({ ...testing, result: JSON.stringify(answer, null, 2) });
    } catch (err) {
      setTesting({ ...testing, result: (err as Error).message });
    }
  }

  const servers = Object.entries(status.data ?? {});
  return (
    <div className="page">
      <div className="toolbar">
        <h1>{t("mcp.title")}</h1>
        <span className="spacer" />
        <button onClick={() => void act("/mcp/connect/all")}>{t("mcp.connectAll")}</button>
      </div>
      <ErrorText error={status.error ?? error} />
      {status.data && servers.length === 0 && <p className="muted">{t("mcp.empty")}</p>}
      <ul className="cards">
        {servers.map(([name, s]) => (
          <li key={name} className="card column">
            <div className="row">
              <span className={`dot ${s.connected ? "ok" : "off"}`} />
              <strong>{name}</strong>
              <span className="muted">{s.status ?? (s.connected ? "connected" : "disconnected")} {s.transport_type ?? ""}</span>
              <span className="spacer" />
              {s.connected
                ? <button onClick={() => void act(`/mcp/disconnect/${enc(name)}`)}>{t("mcp.disconnect")}</button>
                : <button onClick={() => void act(`/mcp/connect/${enc(name)}`)}>{t("mcp.connect")}</button>}
              <button className="danger" onClick={() => window.confirm(t("mcp.confirmRemove", { name })) && void act("/mcp/remove", [name])}>{t("common.delete")}</button>
            </div>
            {(s.lastError || s.error) && <p className="error">{t("mcp.lastError")}: {s.lastError ?? s.error}</p>}
            {s.nextRetryAt && <p className="muted">{t("mcp.nextRetry")}: {new Date(s.nextRetryAt).toLocaleTimeString()}</p>}
            {(tools.data?.[name] ?? []).map((tool) => (
              <details key={tool.name} className="tool-call">
                <summary>🔧 {tool.name} <span className="muted">{tool.description}</span></summary>
                <pre>{JSON.stringify(tool.input_schema, null, 2)}</pre>
                <button onClick={() => setTesting({ server: name, tool, params: "{}" })}>{t("mcp.test")}</button>
              </details>
            ))}
          </li>
        ))}
      </ul>
      {testing && (
        <div className="form dialog">
          <h2>{t("mcp.testTitle", { tool: testing.tool.name })}</h2>
          <Field label={t("mcp.params")}><textarea rows={5} value={testing.params} onChange={(e) => setTesting({ ...testing, params: e.target.value })} /></Field>
          {testing.result && <pre>{testing.result}</pre>}
          <div className="actions">
            <button onClick={() => setTesting(null)}>{t("common.close")}</button>
            <button className="primary" onClick={() => void runTest()}>{t("mcp.run")}</button>
          </div>
        </div>
      )}
      <section className="form">
        <h2>{t("mcp.addTitle")}</h2>
        <Field label={t("mcp.addHint")} error={jsonError}>
          <textarea rows={8} value={json} onChange={(e) => setJson(e.target.value)} placeholder={'{"mcpServers": {"time": {"command": "npx", "args": ["-y", "time-mcp"]}}}'} data-testid="mcp-json" />
        </Field>
        <div className="actions"><button className="primary" onClick={() => void add()} disabled={!json.trim()}>{t("mcp.add")}</button></div>
      </section>
    </div>
  );
}
