// The graph definition as the API stores it, and the pure functions the editor and the run view share.

export interface GraphNode {
  name: string;
  description?: string;
  model_name?: string | null;
  mcp_servers?: string[];
  system_prompt?: string;
  user_prompt?: string;
  input_nodes: string[];
  output_nodes: string[];
  handoffs?: number | null;
  global_output?: boolean;
  context?: string[];
  context_mode?: string;
  context_n?: number | null;
  output_enabled?: boolean;
  is_subgraph?: boolean;
  subgraph_name?: string | null;
  position?: { x: number; y: number } | null;
  save?: string | null;
  [extra: string]: unknown;
}

export interface Graph {
  name: string;
  description?: string;
  nodes: GraphNode[];
  end_template?: string | null;
  version?: number;
  [extra: string]: unknown;
}

export const START = "start";
export const END = "end";
const NAME_RULE = /^[^/\\.]+$/;

export interface LocalProblem {
  node: string | null;
  field: string;
  message: string;
}

/** Problems the editor can see without the server: shown as you edit; the server checks the rest on save. */
export function localProblems(graph: Graph, t: (key: "problem.name" | "problem.duplicate" | "problem.model" | "problem.noStart" | "problem.noEnd" | "problem.subgraph" | "problem.graphName") => string): LocalProblem[] {
  const problems: LocalProblem[] = [];
  if (!graph.name.trim() || !NAME_RULE.test(graph.name)) problems.push({ node: null, field: "name", message: t("problem.graphName") });
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    if (!node.name.trim() || !NAME_RULE.test(node.name) || node.name === START || node.name === END)
      problems.push({ node: node.name, field: "name", message: t("problem.name") });
    if (seen.has(node.name)) problems.push({ node: node.name, field: "name", message: t("problem.duplicate") });
    seen.add(node.name);
    if (node.is_subgraph) {
      if (!node.subgraph_name) problems.push({ node: node.name, field: "subgraph_name", message: t("problem.subgraph") });
    } else if (!node.model_name) {
      problems.push({ node: node.name, field: "model_name", message: t("problem.model") });
    }
  }
  if (graph.nodes.length) {
    if (!graph.nodes.some((n) => n.input_nodes.includes(START))) problems.push({ node: null, field: "input_nodes", message: t("problem.noStart") });
    if (!graph.nodes.some((n) => n.output_nodes.includes(END))) problems.push({ node: null, field: "output_nodes", message: t("problem.noEnd") });
  }
  return problems;
}

export interface EdgeInfo {
  source: string; // a node name, or START
  target: string; // a node name, or END
  handoff: boolean; // an output of a node that chooses (handoffs > 0)
  back: boolean; // goes back to an earlier node: a loop
}

/** Every edge once: from inputs (`start` included) and outputs (`end` and handoff targets included). */
export function edgesOf(graph: Graph): EdgeInfo[] {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const keys = new Set<string>();
  const pairs: [string, string][] = [];
  const add = (source: string, target: string) => {
    const key = `${source}\u0000${target}`;
    if (!keys.has(key)) {
      keys.add(key);
      pairs.push([source, target]);
    }
  };
  for (const node of graph.nodes) {
    for (const input of node.input_nodes) if (input === START || byName.has(input)) add(input, node.name);
    for (const output of node.output_nodes) if (output === END || byName.has(output)) add(node.name, output);
  }
  const order = depthOrder(graph);
  return pairs.map(([source, target]) => {
    const from = byName.get(source);
    return {
      source,
      target,
      handoff: Boolean(from && (from.handoffs ?? 0) > 0),
      back: target !== END && source !== START && (order.get(target) ?? 0) <= (order.get(source) ?? 0),
    };
  });
}

/** Depth of each node: the longest path from `start` along inputs, ignoring edges that close a loop. */
export function depthOrder(graph: Graph): Map<string, number> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (name: string): number => {
    if (depth.has(name)) return depth.get(name)!;
    if (visiting.has(name)) return -1; // a loop: this edge does not deepen
    visiting.add(name);
    const node = byName.get(name)!;
    let d = 0;
    for (const input of node.input_nodes) {
      if (input === START || !byName.has(input)) continue;
      const inner = visit(input);
      if (inner >= 0) d = Math.max(d, inner + 1);
    }
    visiting.delete(name);
    depth.set(name, d);
    return d;
  };
  graph.nodes.forEach((n) => visit(n.name));
  return depth;
}

export const COLUMN = 260;
export const ROW = 110;

/** Columns by depth, rows in order: a readable layout for any graph. */
export function autoLayout(graph: Graph): Graph {
  const depth = depthOrder(graph);
  const rows = new Map<number, number>();
  const nodes = graph.nodes.map((node) => {
    const column = (depth.get(node.name) ?? 0) + 1;
    const row = rows.get(column) ?? 0;
    rows.set(column, row + 1);
    return { ...node, position: { x: column * COLUMN, y: row * ROW } };
  });
  return { ...graph, nodes };
}

export function positionOf(graph: Graph, node: GraphNode, index: number): { x: number; y: number } {
  if (node.position && Number.isFinite(node.position.x) && Number.isFinite(node.position.y)) return node.position;
  const depth = depthOrder(graph).get(node.name) ?? 0;
  return { x: (depth + 1) * COLUMN, y: index * ROW };
}

/** Where the start and end markers sit: left and right of the nodes. */
export function terminalPositions(graph: Graph): { start: { x: number; y: number }; end: { x: number; y: number } } {
  const points = graph.nodes.map((n, i) => positionOf(graph, n, i));
  const minX = Math.min(COLUMN, ...points.map((p) => p.x));
  const maxX = Math.max(COLUMN, ...points.map((p) => p.x));
  const midY = points.length ? (Math.min(...points.map((p) => p.y)) + Math.max(...points.map((p) => p.y))) / 2 : 0;
  return { start: { x: minX - COLUMN, y: midY }, end: { x: maxX + COLUMN, y: midY } };
}

export function connect(graph: Graph, source: string, target: string): Graph {
  const nodes = graph.nodes.map((node) => {
    if (node.name === source && !node.output_nodes.includes(target)) return { ...node, output_nodes: [...node.output_nodes, target] };
    if (node.name === target && !node.input_nodes.includes(source)) return { ...node, input_nodes: [...node.input_nodes, source] };
    return node;
  });
  return { ...graph, nodes };
}

export function disconnect(graph: Graph, source: string, target: string): Graph {
  const nodes = graph.nodes.map((node) => {
    if (node.name === source) return { ...node, output_nodes: node.output_nodes.filter((n) => n !== target) };
    if (node.name === target) return { ...node, input_nodes: node.input_nodes.filter((n) => n !== source) };
    return node;
  });
  return { ...graph, nodes };
}

export function removeNode(graph: Graph, name: string): Graph {
  const nodes = graph.nodes
    .filter((n) => n.name !== name)
    .map((n) => ({
      ...n,
      input_nodes: n.input_nodes.filter((x) => x !== name),
      output_nodes: n.output_nodes.filter((x) => x !== name),
      context: (n.context ?? []).filter((x) => x !== name),
    }));
  return { ...graph, nodes };
}

/** Rename a node and every reference to it (edges, context, `{name}` placeholders in prompts). */
export function renameNode(graph: Graph, from: string, to: string): Graph {
  const swap = (list: string[] | undefined) => (list ?? []).map((x) => (x === from ? to : x));
  const placeholder = (text: string | undefined) => (text ?? "").split(`{${from}}`).join(`{${to}}`);
  const nodes = graph.nodes.map((n) => ({
    ...n,
    name: n.name === from ? to : n.name,
    input_nodes: swap(n.input_nodes),
    output_nodes: swap(n.output_nodes),
    context: swap(n.context),
    system_prompt: placeholder(n.system_prompt),
    user_prompt: placeholder(n.user_prompt),
  }));
  return { ...graph, nodes, end_template: graph.end_template ? placeholder(graph.end_template) : graph.end_template };
}

export function uniqueName(graph: Graph, base: string): string {
  const taken = new Set(graph.nodes.map((n) => n.name));
  for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}
