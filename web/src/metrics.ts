// AMP's tenant-safe queries (GET /metrics/query_range and /metrics/query,
// Prometheus's answer shapes: docs/monitoring.md) and the log lines of
// GET /logs (Loki's query_range shape). An enterprise's query names it
// (?enterprise=), so the server restricts every selector to its series.
import { APIError, get } from "./api";

export interface Series {
  labels: Record<string, string>;
  points: [number, number][]; // [unix seconds, value]
}

interface PromAnswer {
  status: string;
  data: { resultType: string; result: { metric: Record<string, string>; values?: [number, string][]; value?: [number, string] }[] };
}

const qs = (params: Record<string, string | undefined>) =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`)
    .join("&");

/** A range query's series and the period it asked about (unix seconds), which a chart spans whatever data there is. */
export interface Range {
  series: Series[];
  start: number;
  end: number;
}

/** A graph's step over `seconds`: about 120 points (the server's default for $__interval too). */
const step = (seconds: number) => Math.max(1, Math.ceil(seconds / 120));

/** A range query over the last `seconds`, about 120 points. */
export async function queryRange(query: string, seconds: number, enterprise?: string): Promise<Range> {
  const end = Math.floor(Date.now() / 1000);
  const start = end - seconds;
  const { body } = await get<PromAnswer>(`/metrics/query_range?${qs({ query, start: String(start), end: String(end), step: String(step(seconds)), enterprise })}`);
  const series = body.data.result.map((r) => ({ labels: r.metric, points: (r.values ?? []).map(([t, v]) => [t, Number(v)] as [number, number]) }));
  return { series, start, end };
}

/** Whether a refusal says the server has no Prometheus to ask (503: serve without --prometheus-url). */
export const noPrometheus = (e: unknown) => e instanceof APIError && e.status === 503;

/** An instant query, as series of one point each. */
export async function queryNow(query: string, enterprise?: string): Promise<Series[]> {
  const { body } = await get<PromAnswer>(`/metrics/query?${qs({ query, enterprise })}`);
  return body.data.result.map((r) => ({ labels: r.metric, points: r.value ? [[r.value[0], Number(r.value[1])]] : [] }));
}

export interface LogLine {
  at: Date;
  stream: Record<string, string>;
  line: string;
}

interface LokiAnswer {
  data: { result: { stream: Record<string, string>; values: [string, string][] }[] };
}

/** The log lines of query over the last seconds, newest first; a string when the server has no logs to offer (why). */
export async function logLines(query: string, seconds: number, enterprise?: string, limit = 100): Promise<LogLine[] | string> {
  const end = Date.now() * 1e6;
  const start = end - seconds * 1e9;
  try {
    const { body } = await get<LokiAnswer>(`/logs?${qs({ query, start: String(start), end: String(end), limit: String(limit), direction: "backward", enterprise })}`);
    const lines = body.data.result.flatMap((r) => r.values.map(([ns, line]) => ({ at: new Date(Number(BigInt(ns) / 1000000n)), stream: r.stream, line })));
    return lines.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, limit);
  } catch (e) {
    // a server without a log API answers its "no route", one without a log store 503 (another enterprise's logs are a 404 naming why)
    if (e instanceof APIError && e.status === 404 && e.problems.some((p) => p.reason.startsWith("no route for"))) return "this server offers no log API (GET /logs)";
    if (e instanceof APIError && e.status === 503) return e.problems.map((p) => p.reason).join("; ") || "the log store is not available";
    throw e;
  }
}

/**
 * A series' name in a legend: a Grafana legend format ({{site}} {{probe}})
 * filled in with its labels, or its labels but the enterprise's (every
 * series of an enterprise's query carries it).
 */
export function seriesName(s: Series, legend?: string): string {
  if (legend) {
    const name = legend.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => s.labels[k] ?? "").trim();
    if (name) return name;
  }
  const entries = Object.entries(s.labels).filter(([k]) => k !== "enterprise");
  return entries.length ? entries.map(([k, v]) => (k === "__name__" ? v : `${k}=${v}`)).join(", ") : "value";
}

/** A panel of a dashboard model (GET /monitor/panels/{id}): its query as declared and filled in (expr). */
export interface DashboardPanel {
  name?: string;
  title: string;
  kind: "timeseries" | "stat" | "logs";
  language: "promql" | "logql";
  query: string;
  expr: string;
  unit?: string;
  legend?: string;
}

export interface Dashboard {
  id: string;
  title: string;
  description?: string;
  source: "predefined" | "enterprise";
  enterprise?: string;
  panels: DashboardPanel[];
}

/**
 * The dashboard id's panels with its variables filled in by the server:
 * vars as ?var-NAME=, $__range the period (any variable not given: All).
 * The scope (enterprise) is the queries' own.
 */
export async function dashboardPanels(id: string, vars: Record<string, string>, seconds: number, enterprise?: string): Promise<Dashboard> {
  const params: Record<string, string | undefined> = { enterprise, range: String(seconds), step: String(step(seconds)) };
  for (const [k, v] of Object.entries(vars)) params[`var-${k}`] = v;
  const { body } = await get<Dashboard>(`/monitor/panels/${encodeURIComponent(id)}?${qs(params)}`);
  return body;
}

/** The dashboards the portal may show in the scope (GET /monitor/panels). */
export async function dashboardList(enterprise?: string): Promise<{ id: string; title?: string; panels: number }[]> {
  const { body } = await get<{ id: string; title?: string; panels: number }[]>(`/monitor/panels?${qs({ enterprise })}`);
  return body;
}
