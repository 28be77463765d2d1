// Every call of the console goes through the public API at /api. The token of auth mode lives in
// sessionStorage (never in a URL); the connection state feeds the banner shown when the server is gone.

export const API = "/api";
const TOKEN_KEY = "maghub.token";

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

type Listener = (online: boolean) => void;
const listeners = new Set<Listener>();
let online = true;
export function onConnectionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
export function setOnline(value: boolean): void {
  if (value === online) return;
  online = value;
  listeners.forEach((l) => l(value));
}

/** A problem the server named: `field` (and `node`) say where it belongs in a form. */
export interface Problem {
  field?: string | null;
  node?: string | null;
  message: string;
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public problems: Problem[] = [],
  ) {
    super(message);
  }
  /** The message for one field (and node), if the server named it. */
  forField(field: string, node?: string): string | undefined {
    const hit = this.problems.find((p) => p.field === field && (node === undefined || p.node === node));
    return hit?.message;
  }
}

function problemsOf(body: unknown): Problem[] {
  if (!body || typeof body !== "object") return [];
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.problems)) return b.problems as Problem[];
  if (Array.isArray(b.detail)) {
    // 422: [{field, msg}] (maghub) or FastAPI's [{loc, msg}]
    return (b.detail as Record<string, unknown>[]).map((d) => ({
      field: (d.field as string) ?? (Array.isArray(d.loc) ? String(d.loc[d.loc.length - 1]) : null),
      message: String(d.msg ?? d.message ?? ""),
    }));
  }
  return [];
}

function messageOf(body: unknown, status: number): string {
  if (body && typeof body === "object") {
    const d = (body as Record<string, unknown>).detail;
    if (typeof d === "string") return d;
    const problems = problemsOf(body);
    if (problems.length) return problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message)).join("; ");
  }
  return `HTTP ${status}`;
}

function headers(json: boolean): HeadersInit {
  const h: Record<string, string> = {};
  if (json) h["Content-Type"] = "application/json";
  const token = getToken();
  if (token) h["Authorization"] = `Bearer ${token}`;
  return h;
}

async function send(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(API + path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if ((err as Error).name !== "AbortError") setOnline(false);
    throw err;
  }
  setOnline(true);
  if (response.status === 401 && !path.startsWith("/auth/login")) {
    setToken(null);
    window.dispatchEvent(new CustomEvent("maghub:unauthorized"));
  }
  if (!response.ok) {
    let parsed: unknown = null;
    try {
      parsed = await response.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, messageOf(parsed, response.status), problemsOf(parsed));
  }
  return response;
}

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(method, path, body);
  const text = await response.text();
  return (text ? JSON.parse(text) : null) as T;
}

export const get = <T = unknown>(path: string) => api<T>("GET", path);
export const post = <T = unknown>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});
export const put = <T = unknown>(path: string, body?: unknown) => api<T>("PUT", path, body ?? {});
export const del = <T = unknown>(path: string) => api<T>("DELETE", path);

/** POST a request whose answer is an SSE stream (`data: <json>` lines, ending with `data: [DONE]`). */
export async function stream(
  path: string,
  body: unknown,
  onEvent: (event: Record<string, unknown>) => void,
  signal?: AbortSignal,
): Promise<void> {
  const response = await send("POST", path, body, signal);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (err) {
      if ((err as Error).name === "AbortError" || signal?.aborted) return;
      setOnline(false);
      throw err;
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      try {
        onEvent(JSON.parse(data));
      } catch {
        /* a malformed line is skipped, the stream goes on */
      }
    }
  }
}

export const enc = encodeURIComponent;

/** Upload one file as multipart form data (field `file`). */
export async function upload<T = unknown>(path: string, file: File): Promise<T> {
  const form = new FormData();
  form.append("file", file);
  let response: Response;
  try {
    response = await fetch(API + path, { method: "POST", headers: headers(false), body: form });
  } catch (err) {
    setOnline(false);
    throw err;
  }
  setOnline(true);
  const parsed: unknown = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, messageOf(parsed, response.status), problemsOf(parsed));
  return parsed as T;
}

/** Download an API answer as a file (with the token, which a plain link could not carry). */
export async function download(path: string, filename: string): Promise<void> {
  const response = await send("GET", path);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = filename;
  link.click();
  URL.revokeObjectURL(link.href);
}
