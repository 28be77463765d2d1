import { lazy, Suspense, useEffect, useState } from "react";
import { Navigate, NavLink, Route, Routes, useNavigate } from "react-router-dom";
import { getToken, onConnectionChange, setOnline, setToken } from "./api";
import { useI18n, type Lang } from "./i18n";
import { ChatPage } from "./pages/Chat";
import { ConversationsPage } from "./pages/Conversations";
import { GeneratePage } from "./pages/Generate";
import { GraphListPage } from "./pages/GraphList";
import { LoginPage } from "./pages/Login";
import { McpPage } from "./pages/Mcp";
import { ModelsPage } from "./pages/Models";
import { SystemPage } from "./pages/System";

// The canvas pages carry React Flow: loaded on first use, so the first page stays light.
const GraphEditorPage = lazy(() => import("./pages/GraphEditor"));
const RunPage = lazy(() => import("./pages/Run"));

/** Shown while the server cannot be reached; polls /api/health until it answers again. */
function ConnectionBanner() {
  const { t } = useI18n();
  const [offline, setOffline] = useState(false);
  const [restored, setRestored] = useState(false);
  useEffect(() => onConnectionChange((online) => {
    setOffline(!online);
    if (online) {
      setRestored(true);
      window.setTimeout(() => setRestored(false), 4000);
    }
  }), []);
  useEffect(() => {
    if (!offline) return;
    const timer = window.setInterval(async () => {
      try {
        const response = await fetch("/api/health");
        if (response.ok) setOnline(true);
      } catch {
        /* still down */
      }
    }, 2000);
    return () => window.clearInterval(timer);
  }, [offline]);
  if (offline) return <div className="banner banner-error" role="alert">{t("banner.offline")}</div>;
  if (restored) return <div className="banner banner-ok" role="status">{t("banner.restored")}</div>;
  return null;
}

function LanguageSwitch() {
  const { lang, setLang } = useI18n();
  return (
    <select aria-label="Language / 语言" value={lang} onChange={(e) => setLang(e.target.value as Lang)} data-testid="lang">
      <option value="en">English</option>
      <option value="zh">中文</option>
    </select>
  );
}

export function App() {
  const { t } = useI18n();
  const navigate = useNavigate();
  const [signedIn, setSignedIn] = useState(Boolean(getToken()));
  useEffect(() => {
    const onUnauthorized = () => {
      setSignedIn(false);
      navigate("/login");
    };
    window.addEventListener("maghub:unauthorized", onUnauthorized);
    return () => window.removeEventListener("maghub:unauthorized", onUnauthorized);
  }, [navigate]);

  const links: [string, Parameters<typeof t>[0]][] = [
    ["/chat", "nav.chat"],
    ["/conversations", "nav.conversations"],
    ["/graphs", "nav.graphs"],
    ["/generate", "nav.generate"],
    ["/models", "nav.models"],
    ["/mcp", "nav.mcp"],
    ["/system", "nav.system"],
  ];
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">maghub</span>
        <nav>
          {links.map(([to, key]) => (
            <NavLink key={to} to={to}>{t(key)}</NavLink>
          ))}
        </nav>
        <span className="spacer" />
        {signedIn && (
          <button className="link" onClick={() => { setToken(null); setSignedIn(false); navigate("/login"); }}>
            {t("nav.signOut")}
          </button>
        )}
        <LanguageSwitch />
      </header>
      <ConnectionBanner />
      <main>
        <Suspense fallback={<p className="muted">{t("common.loading")}</p>}>
          <Routes>
            <Route path="/" element={<Navigate to="/chat" replace />} />
            <Route path="/chat" element={<ChatPage />} />
            <Route path="/conversations" element={<ConversationsPage />} />
            <Route path="/graphs" element={<GraphListPage />} />
            <Route path="/graphs/new" element={<GraphEditorPage />} />
            <Route path="/graphs/:name" element={<GraphEditorPage />} />
            <Route path="/graphs/:name/run" element={<RunPage />} />
            <Route path="/generate" element={<GeneratePage />} />
            <Route path="/models" element={<ModelsPage />} />
            <Route path="/mcp" element={<McpPage />} />
            <Route path="/system" element={<SystemPage />} />
            <Route path="/login" element={<LoginPage onSignedIn={() => setSignedIn(true)} />} />
            <Route path="*" element={<p>{t("common.notFound")}</p>} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
