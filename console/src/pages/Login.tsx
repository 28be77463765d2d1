import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { post, setToken } from "../api";
import { ErrorText, Field } from "../components";
import { useI18n } from "../i18n";

export function LoginPage({ onSignedIn }: { onSignedIn: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);

  async function submit() {
    if (!username || !password) {
      setError(new Error(t("login.required")));
      return;
    }
    try {
      const answer = await post<{ access_token: string }>("/auth/login", { username, password });
      setToken(answer.access_token);
      onSignedIn();
      navigate("/chat");
    } catch (err) {
      setError(err);
    }
  }

  return (
    <form className="form login" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
      <h1>{t("login.title")}</h1>
      <Field label={t("login.username")}><input autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} /></Field>
      <Field label={t("login.password")}><input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} /></Field>
      <ErrorText error={error} />
      <button className="primary" type="submit">{t("login.submit")}</button>
    </form>
  );
}
