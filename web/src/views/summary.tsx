// The operators' landing summary (the book's central summary dashboard,
// Figure 8.1): the panels of the predefined edge-summary dashboard over
// every site — uptime of the control and user planes from the end-to-end
// probes, the time since each site last reported, round trips, failing
// probes and the alerts firing — drawn from the dashboard model, so a
// panel added to it shows here with no portal change.
import { useState } from "preact/hooks";
import { root } from "../router";
import { DashboardPanels } from "./dashboard";

const periods: [string, number][] = [
  ["1 hour", 3600],
  ["24 hours", 86400],
  ["7 days", 604800],
];

const all = {}; // every site: the dashboard's variables at All

export function Summary() {
  const [period, setPeriod] = useState(86400);
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
      <DashboardPanels id="edge-summary" vars={all} period={period} n={0} />
      <p class="note">
        The dashboard <code>edge-summary</code> (<a href={`${root}alerts`}>alerts</a>, <a href={`${root}rollouts`}>rollouts</a>); export it for Grafana with{" "}
        <code>amp monitor dashboard export edge-summary</code>.
      </p>
    </section>
  );
}
