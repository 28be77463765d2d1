import { useState } from "react";
import { get, post } from "../api";
import { ErrorText, useLoad } from "../components";
import { useI18n } from "../i18n";

export function SystemPage() {
  const { t } = useI18n();
  const health = useLoad(() => get<{ version: string; database: string; status: string; shutting_down: boolean }>("/health"));
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function shutdown() {
    if (!window.confirm(t("system.confirmShutdown"))) return;
    try {
      await post("/system/shutdown");
      setMessage(t("system.shuttingDown"));
    } catch (err) {
      setError(err);
    }
  }

  return (
    <div className="page">
      <h1>{t("system.title")}</h1>
      <ErrorText error={health.error ?? error} />
      {health.data && (
        <dl className="facts" data-testid="system-facts">
          <dt>{t("system.version")}</dt><dd>{health.data.version}</dd>
          <dt>{t("system.database")}</dt><dd>{health.data.database}</dd>
          <dt>{t("system.status")}</dt><dd>{health.data.status}</dd>
        </dl>
      )}
      <p><a href="/docs" target="_blank" rel="noreferrer">{t("system.apiDocs")}</a></p>
      {message && <p className="ok" role="status">{message}</p>}
      <button className="danger" onClick={() => void shutdown()}>{t("system.shutdown")}</button>
    </div>
  );
}
