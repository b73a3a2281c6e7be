// Monitors next to the knobs (the book's chapter 6.4): a device group, a
// site, a slice or a cluster shows a Monitor button beside Edit, which
// opens the panels of a dashboard model — the predefined one of its kind,
// or another the user picks — with the page's names as the dashboard's
// variables. Every query goes through AMP's tenant-safe APIs, naming the
// enterprise for an enterprise's object, so the server restricts it to
// that enterprise's series (dashboard.tsx).
import { useState } from "preact/hooks";
import { useLoad } from "../load";
import { dashboardList } from "../metrics";
import { DashboardPanels } from "./dashboard";

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

/**
 * The page's variables: what a dashboard's $site, $device_group, $slice
 * and $cluster stand for here. The dashboard shown first is the
 * predefined one named after the kind (internal/monitor/dashboards).
 */
export function variables(t: Target): Record<string, string> {
  switch (t.kind) {
    case "site":
      return { site: t.name };
    case "cluster":
      return t.site ? { cluster: t.name, site: t.site } : { cluster: t.name };
    case "device-group":
      return { site: t.site ?? "", device_group: t.name };
    case "slice":
      return { site: t.site ?? "", slice: t.name };
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
  const [chosen, choose] = useState(target.kind as string);
  const list = useLoad(() => dashboardList(target.enterprise), [target.enterprise]);
  const ids = list && "value" in list ? list.value.filter((d) => d.panels > 0) : [];
  return (
    <div class="monitor" id="monitor" data-kind={target.kind}>
      <h2>
        Monitor: {target.kind} {target.name}
      </h2>
      <div class="controls">
        <label>
          dashboard{" "}
          <select id="monitor-dashboard" value={chosen} onChange={(e) => choose((e.target as HTMLSelectElement).value)}>
            {(ids.some((d) => d.id === chosen) ? ids : [{ id: chosen, title: chosen }, ...ids]).map((d) => (
              <option value={d.id}>{d.title ? `${d.title} (${d.id})` : d.id}</option>
            ))}
          </select>
        </label>{" "}
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
      <DashboardPanels id={chosen} vars={variables(target)} period={period} enterprise={target.enterprise} n={n} />
    </div>
  );
}
