// Monitors next to the knobs (the book's chapter 6.4): a device group, a
// site, a slice or a cluster shows a Monitor button beside Edit, which
// opens charts of its metrics and its log lines. Every query goes through
// AMP's tenant-safe API (GET /metrics/query_range, GET /logs), naming the
// enterprise for an enterprise's object, so the server restricts it to
// that enterprise's series; what a kind charts is the table below.
import { useState } from "preact/hooks";
import { Chart } from "../chart";
import { Show, useLoad } from "../load";
import { logLines, queryRange } from "../metrics";

export type Kind = "site" | "device-group" | "slice" | "cluster";

/** What a monitor panel is about: the object's kind, name and where it is. */
export interface Target {
  kind: Kind;
  name: string;
  enterprise?: string; // an enterprise's object: its queries name it
  site?: string;
}

const seg = decodeURIComponent;

/** The object a REST path names when it is one with monitors, else null. */
export function monitorTarget(path: string): Target | null {
  const a = /^\/aether\/[^/]+\/([^/]+)\/site\/([^/]+)(?:\/(device-group|slice)\/([^/]+))?$/.exec(path);
  if (a) {
    const [, enterprise, site, kind, name] = a;
    return kind ? { kind: kind as Kind, name: seg(name), enterprise: seg(enterprise), site: seg(site) } : { kind: "site", name: seg(site), enterprise: seg(enterprise), site: seg(site) };
  }
  const c = /^\/inventory\/[^/]+\/cluster\/([^/]+)$/.exec(path);
  return c ? { kind: "cluster", name: seg(c[1]) } : null;
}

interface Panel {
  title: string;
  query: string;
  unit?: string;
  legend?: string[]; // the labels that tell its series apart
}

const str = (v: string) => JSON.stringify(v); // a PromQL / LogQL string literal

/**
 * Per kind: the charts (PromQL) and the log selector (LogQL). The
 * end-to-end probes' series carry site and cluster (docs/monitoring.md);
 * a device group's or a slice's series are those its site's exporters
 * label device_group or slice (SD-Core's and the UPF's, federated with
 * their site's labels), whatever their name, but Prometheus's ALERTS.
 */
export function monitors(t: Target): { panels: Panel[]; logs: string } {
  switch (t.kind) {
    case "site":
      return {
        panels: [
          { title: "End-to-end probes (1 = passing)", query: `amp_edge_probe_ok{site=${str(t.name)}}`, legend: ["probe", "cluster"] },
          { title: "Probe duration", query: `amp_edge_probe_duration_seconds{site=${str(t.name)}}`, unit: "s", legend: ["probe", "cluster"] },
        ],
        logs: `{site=${str(t.name)}}`,
      };
    case "cluster":
      return {
        panels: [
          { title: "Agent connected (1 = yes)", query: `amp_edge_connected{cluster=${str(t.name)}}`, legend: ["cluster"] },
          { title: "End-to-end probes (1 = passing)", query: `amp_edge_probe_ok{cluster=${str(t.name)}}`, legend: ["probe"] },
        ],
        logs: `{cluster=${str(t.name)}}`,
      };
    case "device-group":
    case "slice": {
      const label = t.kind === "device-group" ? "device_group" : "slice";
      // Prometheus's own ALERTS series carry the labels of what they alert on: alerts are the alerts view's
      const series = `{site=${str(t.site ?? "")},${label}=${str(t.name)},__name__!~"ALERTS.*"}`;
      // log streams are labelled by site at most (docs/logging.md), not by device group or slice: the site's lines
      return { panels: [{ title: `Series of the ${t.kind} (by metric)`, query: series, legend: ["__name__"] }], logs: `{site=${str(t.site ?? "")}}` };
    }
  }
}

const periods: [string, number][] = [
  ["5 minutes", 300],
  ["15 minutes", 900],
  ["1 hour", 3600],
  ["6 hours", 21600],
  ["24 hours", 86400],
];

/** The Monitor button and, once pressed, the panel; nothing for an object without monitors. */
export function MonitorButton({ path }: { path: string }) {
  const [open, setOpen] = useState(false);
  const t = monitorTarget(path);
  if (!t) return null;
  return (
    <>
      <button type="button" id="monitor-button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Hide monitor" : "Monitor"}
      </button>
      {open && <MonitorPanel target={t} />}
    </>
  );
}

export function MonitorPanel({ target }: { target: Target }) {
  const [period, setPeriod] = useState(3600);
  const [n, refresh] = useState(0);
  const { panels, logs } = monitors(target);
  return (
    <div class="monitor" id="monitor" data-kind={target.kind}>
      <h2>
        Monitor: {target.kind} {target.name}
      </h2>
      <div class="controls">
        <label>
          period{" "}
          <select id="monitor-period" value={period} onChange={(e) => setPeriod(Number((e.target as HTMLSelectElement).value))}>
            {periods.map(([label, s]) => (
              <option value={s}>{label}</option>
            ))}
          </select>
        </label>
        <button type="button" id="monitor-refresh" onClick={() => refresh((k) => k + 1)}>
          Refresh
        </button>
      </div>
      {panels.map((p) => (
        <ChartPanel panel={p} period={period} enterprise={target.enterprise} key={`${p.query}/${period}/${n}`} />
      ))}
      <Logs query={logs} period={period} enterprise={target.enterprise} key={`logs/${period}/${n}`} />
    </div>
  );
}

function ChartPanel({ panel, period, enterprise }: { panel: Panel; period: number; enterprise?: string }) {
  const state = useLoad(() => queryRange(panel.query, period, enterprise), [panel.query, period, enterprise]);
  return (
    <div class="chart-panel">
      <Show state={state}>{(range) => <Chart range={range} title={panel.title} unit={panel.unit} legend={panel.legend} />}</Show>
      <p class="note">
        <code>{panel.query}</code>
      </p>
    </div>
  );
}

function Logs({ query, period, enterprise }: { query: string; period: number; enterprise?: string }) {
  const state = useLoad(() => logLines(query, period, enterprise), [query, period, enterprise]);
  return (
    <div class="logs">
      <h3>Log lines</h3>
      <Show state={state}>
        {(lines) =>
          typeof lines === "string" ? (
            <p class="note" id="logs">
              logs not available: {lines}
            </p>
          ) : lines.length === 0 ? (
            <p class="note" id="logs">
              no log line in this period
            </p>
          ) : (
            <table id="logs" class="log-lines">
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
    </div>
  );
}
