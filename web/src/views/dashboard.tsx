// A dashboard model's panels, drawn natively (docs/portal.md, "Monitors
// next to the knobs"): the server fills the page's variables in (GET
// /monitor/panels/{id}) and each panel's query goes through AMP's
// tenant-safe APIs in the same scope — a graph through
// /metrics/query_range, a stat (the latest value of each series) through
// /metrics/query, log lines through /logs. Nothing here knows a query: a
// panel added to a dashboard model appears with no portal change.
import { Chart } from "../chart";
import { Show, useLoad } from "../load";
import { dashboardPanels, logLines, noPrometheus, queryNow, queryRange, seriesName, type DashboardPanel, type Series } from "../metrics";

/** What a panel shows while the server has no Prometheus to ask (amp serve without --prometheus-url). */
const unavailable = "No Prometheus is configured (amp serve --prometheus-url): nothing to chart.";

/** The dashboard id's panels over the last period seconds, vars filled in; n: a refresh count. */
export function DashboardPanels({ id, vars, period, enterprise, n }: { id: string; vars: Record<string, string>; period: number; enterprise?: string; n: number }) {
  // by value: a page passes a new object each render
  const state = useLoad(() => dashboardPanels(id, vars, period, enterprise), [id, JSON.stringify(vars), period, enterprise, n]);
  return (
    <Show state={state}>
      {(d) => (
        <div class="dashboard" data-dashboard={d.id} data-source={d.source}>
          {d.description && <p class="note">{d.description}</p>}
          {d.panels.length === 0 && <p class="note">This dashboard has no panels.</p>}
          {d.panels.map((p) => (
            <Panel panel={p} period={period} enterprise={enterprise} key={`${d.id}/${p.name ?? p.title}/${p.expr}/${period}/${n}`} />
          ))}
        </div>
      )}
    </Show>
  );
}

function Panel({ panel, period, enterprise }: { panel: DashboardPanel; period: number; enterprise?: string }) {
  switch (panel.kind) {
    case "logs":
      return <LogsPanel panel={panel} period={period} enterprise={enterprise} />;
    case "stat":
      return <StatPanel panel={panel} enterprise={enterprise} />;
    default:
      return <GraphPanel panel={panel} period={period} enterprise={enterprise} />;
  }
}

/** A refusal that says the server has no Prometheus becomes null: the panel says so instead of failing. */
const orNone = <T,>(p: Promise<T>) => p.catch((e: unknown) => (noPrometheus(e) ? null : Promise.reject(e)));

function Query({ panel }: { panel: DashboardPanel }) {
  return (
    <p class="note">
      <code>{panel.expr}</code>
    </p>
  );
}

function GraphPanel({ panel, period, enterprise }: { panel: DashboardPanel; period: number; enterprise?: string }) {
  const state = useLoad(() => orNone(queryRange(panel.expr, period, enterprise)), [panel.expr, period, enterprise]);
  return (
    <div class="chart-panel" data-panel={panel.name ?? ""}>
      <Show state={state}>
        {(range) =>
          range === null ? (
            <p class="note">
              {panel.title}: {unavailable}
            </p>
          ) : (
            <Chart range={range} title={panel.title} unit={panel.unit} legend={panel.legend} />
          )
        }
      </Show>
      <Query panel={panel} />
    </div>
  );
}

/** A value with the panel's unit (Grafana's unit ids the predefined dashboards use; any other is appended). */
function formatted(v: number, unit?: string): string {
  if (!Number.isFinite(v)) return String(v);
  switch (unit) {
    case "percent":
      return `${v.toFixed(1)} %`;
    case "s":
      return `${v < 10 ? v.toPrecision(3) : v.toFixed(0)} s`;
    case undefined:
    case "":
    case "short":
      return Number.isInteger(v) ? String(v) : v.toPrecision(4);
    default:
      return `${Number.isInteger(v) ? v : v.toPrecision(4)} ${unit}`;
  }
}

function StatPanel({ panel, enterprise }: { panel: DashboardPanel; enterprise?: string }) {
  const state = useLoad(() => orNone(queryNow(panel.expr, enterprise)), [panel.expr, enterprise]);
  const last = (s: Series) => s.points[s.points.length - 1]?.[1] ?? NaN;
  return (
    <figure class="stat" data-title={panel.title} data-panel={panel.name ?? ""}>
      <figcaption>{panel.title}</figcaption>
      <Show state={state}>
        {(series) =>
          series === null ? (
            <p class="note">{unavailable}</p>
          ) : series.length === 0 ? (
            <p class="note no-data">no data</p>
          ) : (
            <table>
              <tbody>
                {[...series]
                  .map((s) => ({ name: seriesName(s, panel.legend), value: last(s) }))
                  .sort((a, b) => a.name.localeCompare(b.name))
                  .map((r) => (
                    <tr data-series={r.name}>
                      <td>{r.name}</td>
                      <td class="value">{formatted(r.value, panel.unit)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Query panel={panel} />
    </figure>
  );
}

function LogsPanel({ panel, period, enterprise }: { panel: DashboardPanel; period: number; enterprise?: string }) {
  const state = useLoad(() => logLines(panel.expr, period, enterprise), [panel.expr, period, enterprise]);
  return (
    <div class="logs" data-panel={panel.name ?? ""}>
      <h3>{panel.title}</h3>
      <Show state={state}>
        {(lines) =>
          typeof lines === "string" ? (
            <p class="note log-lines">logs not available: {lines}</p>
          ) : lines.length === 0 ? (
            <p class="note log-lines">no log line in this period</p>
          ) : (
            <table class="log-lines">
              <tbody>
                {lines.map((l) => (
                  <tr>
                    <td class="at">{l.at.toLocaleString()}</td>
                    <td>
                      <code>{l.line}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
      <Query panel={panel} />
    </div>
  );
}
