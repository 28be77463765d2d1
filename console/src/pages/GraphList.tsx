import { useState } from "react";
import { Link } from "react-router-dom";
import { del, download, enc, get, upload } from "../api";
import { ErrorText, useLoad } from "../components";
import { useI18n } from "../i18n";

export function GraphListPage() {
  const { t } = useI18n();
  const graphs = useLoad(() => get<string[]>("/graphs"));
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState("");
  const [imported, setImported] = useState<string | null>(null);

  async function remove(name: string) {
    if (!window.confirm(t("graphs.confirmDelete", { name }))) return;
    try {
      await del(`/graphs/${enc(name)}`);
      graphs.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function importFile(file: File) {
    setError(null);
    setImported(null);
    try {
      const isPackage = file.name.toLowerCase().endsWith(".zip");
      const answer = await upload<{ message?: string; graph_name?: string }>(isPackage ? "/graphs/import_package_from_file" : "/graphs/import_from_file", file);
      setImported(answer.message ?? t("graphs.imported"));
      graphs.reload();
    } catch (err) {
      setError(err);
    }
  }

  const names = (graphs.data ?? []).filter((n) => n.toLowerCase().includes(filter.toLowerCase()));
  return (
    <div className="page">
      <div className="toolbar">
        <h1>{t("graphs.title")}</h1>
        <span className="spacer" />
        <input placeholder={t("common.search")} aria-label={t("common.search")} value={filter} onChange={(e) => setFilter(e.target.value)} />
        <label className="button">
          {t("graphs.import")}
          <input type="file" accept=".json,.zip" hidden data-testid="import-graph" onChange={(e) => { const f = e.target.files?.[0]; e.target.value = ""; if (f) void importFile(f); }} />
        </label>
        <Link className="button primary" to="/graphs/new">{t("graphs.new")}</Link>
      </div>
      {imported && <p className="ok" role="status">{imported}</p>}
      <ErrorText error={graphs.error ?? error} />
      {graphs.data && names.length === 0 && <p className="muted">{t("graphs.empty")}</p>}
      <ul className="cards" data-testid="graph-list" aria-busy={!graphs.data}>
        {names.map((name) => (
          <li key={name} className="card">
            <Link to={`/graphs/${enc(name)}`} className="card-title">{name}</Link>
            <span className="spacer" />
            <Link className="button" to={`/graphs/${enc(name)}/run`}>{t("graphs.run")}</Link>
            <button onClick={() => void download(`/graphs/${enc(name)}/package`, `${name}.zip`).catch(setError)}>{t("graphs.package")}</button>
            <button className="danger" onClick={() => void remove(name)}>{t("common.delete")}</button>
          </li>
        ))}
      </ul>
    </div>
  );
}
