// The operators' landing summary (the book's central summary dashboard):
// uptime per site from the end-to-end probes. A site is up at an instant
// when every probe result it reports is passing (min by site of
// amp_edge_probe_ok = 1); its uptime is the share of the period's points
// at which it was up, over the points it reported at all.
import { useState } from "preact/hooks";
import { Chart } from "../chart";
import { Show, useLoad } from "../load";
import { noPrometheus, queryRange, type Series } from "../metrics";
import { root } from "../router";

const query = "min by (site) (amp_edge_probe_ok)";

const periods: [string, number][] = [
  ["1 hour", 3600],
  ["24 hours", 86400],
  ["7 days", 604800],
];

function uptime(s: Series): number {
  const up = s.points.filter(([, v]) => v >= 1).length;
  return s.points.length ? up / s.points.length : 0;
}

export function Summary() {
  const [period, setPeriod] = useState(86400);
  // without a Prometheus the summary says so (and the model sets below stay the landing page)
  const state = useLoad(() => queryRange(query, period).catch((e: unknown) => (noPrometheus(e) ? null : Promise.reject(e))), [period]);
  return (
    <section class="summary" id="summary">
      <h1>Sites</h1>
      <label>
        period{" "}
        <select id="summary-period" value={period} onChange={(e) => setPeriod(Number((e.target as HTMLSelectElement).value))}>
          {periods.map(([label, s]) => (
            <option value={s}>{label}</option>
          ))}
        </select>
      </label>
      <Show state={state}>
        {(range) =>
          range === null ? (
            <p class="note" id="uptime">
              No Prometheus is configured (amp serve --prometheus-url): no uptime to show.
            </p>
          ) : range.series.length === 0 ? (
            <p class="note" id="uptime">
              No site has reported an end-to-end probe result in this period.
            </p>
          ) : (
            <>
              <table id="uptime">
                <thead>
                  <tr>
                    <th>site</th>
                    <th>uptime</th>
                    <th>now</th>
                  </tr>
                </thead>
                <tbody>
                  {[...range.series]
                    .sort((a, b) => uptime(a) - uptime(b) || (a.labels.site ?? "").localeCompare(b.labels.site ?? ""))
                    .map((s) => {
                      const last = s.points[s.points.length - 1]?.[1];
                      return (
                        <tr data-site={s.labels.site ?? ""}>
                          <td>{s.labels.site ?? "(no site label)"}</td>
                          <td class="uptime">{(uptime(s) * 100).toFixed(1)} %</td>
                          <td class={last >= 1 ? "state up" : "state down"}>{last >= 1 ? "up" : "down"}</td>
                        </tr>
                      );
                    })}
                </tbody>
              </table>
              <Chart range={range} title="Sites up (1 = every probe passing)" legend={["site"]} />
            </>
          )
        }
      </Show>
      <p class="note">
        From the end-to-end probes (<code>{query}</code>); see also <a href={`${root}alerts`}>alerts</a> and <a href={`${root}rollouts`}>rollouts</a>.
      </p>
    </section>
  );
}
