import { useState } from "react";
import { ApiError, del, enc, get, post, put } from "../api";
import { ErrorText, Field, fieldError, useLoad } from "../components";
import { useI18n } from "../i18n";

interface Model { name: string; base_url: string; api_key: string; model: string; temperature?: number | null; max_tokens?: number | null; [k: string]: unknown }
const BLANK: Model = { name: "", base_url: "", api_key: "", model: "" };

export function ModelsPage() {
  const { t } = useI18n();
  const models = useLoad(() => get<Model[]>("/models"));
  const [editing, setEditing] = useState<{ original: string | null; model: Model } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [local, setLocal] = useState<Record<string, string>>({});

  async function open(name: string | null) {
    setError(null);
    setLocal({});
    if (name === null) return setEditing({ original: null, model: { ...BLANK } });
    try {
      const answer = await get<{ data: Model }>(`/models/${enc(name)}`);
      setEditing({ original: name, model: answer.data });
    } catch (err) {
      setError(err);
    }
  }

  async function save() {
    if (!editing) return;
    const m = editing.model;
    const problems: Record<string, string> = {};
    if (!m.name.trim()) problems.name = t("form.required");
    if (!/^https?:\/\//.test(m.base_url)) problems.base_url = t("form.url");
    if (!m.model.trim()) problems.model = t("form.required");
    if (m.temperature != null && (m.temperature < 0 || m.temperature > 2)) problems.temperature = t("form.range", { min: 0, max: 2 });
    setLocal(problems);
    if (Object.keys(problems).length) return;
    setError(null);
    try {
      if (editing.original === null) await post("/models", m);
      else await put(`/models/${enc(editing.original)}`, m);
      setEditing(null);
      models.reload();
    } catch (err) {
      setError(err);
    }
  }

  async function remove(name: string) {
    if (!window.confirm(t("models.confirmDelete", { name }))) return;
    try {
      await del(`/models/${enc(name)}`);
      models.reload();
    } catch (err) {
      setError(err);
    }
  }

  const set = (patch: Partial<Model>) => editing && setEditing({ ...editing, model: { ...editing.model, ...patch } });
  const errorFor = (field: string) => local[field] ?? fieldError(error, field) ?? (field === "name" && error instanceof ApiError && error.status === 400 && !error.problems.length ? error.message : undefined);
  const num = (v: string) => (v === "" ? null : Number(v));
  return (
    <div className="page">
      <div className="toolbar">
        <h1>{t("models.title")}</h1>
        <span className="spacer" />
        <button className="primary" onClick={() => void open(null)}>{t("models.add")}</button>
      </div>
      <ErrorText error={models.error ?? (!editing ? error : null)} />
      <table className="table" data-testid="models">
        <thead><tr><th>{t("field.name")}</th><th>{t("field.baseUrl")}</th><th>{t("field.providerModel")}</th><th>{t("field.apiKey")}</th><th /></tr></thead>
        <tbody>
          {(models.data ?? []).map((m) => (
            <tr key={m.name}>
              <td>{m.name}</td><td>{m.base_url}</td><td>{m.model}</td><td><code>{m.api_key || "—"}</code></td>
              <td className="actions">
                <button onClick={() => void open(m.name)}>{t("common.edit")}</button>
                <button className="danger" onClick={() => void remove(m.name)}>{t("common.delete")}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {editing && (
        <form className="form dialog" onSubmit={(e) => { e.preventDefault(); void save(); }} data-testid="model-form">
          <h2>{editing.original ? t("models.edit", { name: editing.original }) : t("models.add")}</h2>
          <Field label={t("field.name")} error={errorFor("name")}><input value={editing.model.name} onChange={(e) => set({ name: e.target.value })} name="name" /></Field>
          <Field label={t("field.baseUrl")} error={errorFor("base_url")}><input value={editing.model.base_url} onChange={(e) => set({ base_url: e.target.value })} name="base_url" placeholder="https://api.openai.com/v1" /></Field>
          <Field label={t("field.apiKey")} error={errorFor("api_key")}><input type="password" autoComplete="off" value={editing.model.api_key} onChange={(e) => set({ api_key: e.target.value })} name="api_key" placeholder={editing.original ? t("models.keepKey") : ""} /></Field>
          <Field label={t("field.providerModel")} error={errorFor("model")}><input value={editing.model.model} onChange={(e) => set({ model: e.target.value })} name="model" /></Field>
          <Field label={t("field.temperature")} error={errorFor("temperature")}><input type="number" step="0.1" value={editing.model.temperature ?? ""} onChange={(e) => set({ temperature: num(e.target.value) })} name="temperature" /></Field>
          <Field label={t("field.maxTokens")} error={errorFor("max_tokens")}><input type="number" value={editing.model.max_tokens ?? ""} onChange={(e) => set({ max_tokens: num(e.target.value) })} name="max_tokens" /></Field>
          <ErrorText error={error} />
          <div className="actions">
            <button type="button" onClick={() => setEditing(null)}>{t("common.cancel")}</button>
            <button className="primary" type="submit">{t("common.save")}</button>
          </div>
        </form>
      )}
    </div>
  );
}
