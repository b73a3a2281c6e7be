// The operators' view of the edge clusters (GET /clusters/status, what
// `amp cluster status` shows): each declared cluster's agent link —
// connected, last check-in, agent version, in sync, failed objects — and
// one cluster's reported facts, object states and last outage (GET
// /clusters/{name}/status). The clusters' declarations themselves are the
// inventory set's objects, in the generic views.
import { get } from "../api";
import { Show, useLoad } from "../load";
import { root } from "../router";
import { browseLink } from "./parts";
import { MonitorPanel } from "./monitor";

interface Status {
  cluster: string;
  site?: string;
  connected: boolean;
  "last-seen"?: string;
  "agent-version"?: string;
  "clock-skew-seconds": number;
  desired: { index?: number; digest?: string };
  applied: { index?: number; digest?: string };
  "in-sync": boolean;
  objects: number;
  failed: string[] | null;
  report?: Record<string, unknown>;
  "object-states"?: Record<string, unknown>[];
  "last-outage"?: Record<string, unknown>;
}

const yes = (b: boolean) => (b ? "yes" : "no");

export function Clusters() {
  const state = useLoad(() => get<Status[]>("/clusters/status").then((a) => a.body), []);
  return (
    <section>
      <h1>Clusters</h1>
      <Show state={state}>
        {(list) =>
          list.length === 0 ? (
            <p class="note" id="clusters">
              No cluster you may see is declared (the inventory set's list cluster).
            </p>
          ) : (
            <table id="clusters">
              <thead>
                <tr>
                  <th>cluster</th>
                  <th>site</th>
                  <th>connected</th>
                  <th>last check-in</th>
                  <th>agent</th>
                  <th>in sync</th>
                  <th>objects</th>
                  <th>failed</th>
                </tr>
              </thead>
              <tbody>
                {list.map((c) => (
                  <tr data-cluster={c.cluster}>
                    <td>
                      <a href={`${root}clusters/${encodeURIComponent(c.cluster)}`}>{c.cluster}</a>
                    </td>
                    <td>{c.site}</td>
                    <td class="connected">{yes(c.connected)}</td>
                    <td>{c["last-seen"] ? new Date(c["last-seen"]).toLocaleString() : "never"}</td>
                    <td>{c["agent-version"]}</td>
                    <td class="in-sync">{yes(c["in-sync"])}</td>
                    <td>{c.objects}</td>
                    <td class="failed">{(c.failed ?? []).join("; ")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </section>
  );
}

export function Cluster({ name }: { name: string }) {
  const state = useLoad(() => get<Status>(`/clusters/${encodeURIComponent(name)}/status`).then((a) => a.body), [name]);
  return (
    <section>
      <h1>Cluster {name}</h1>
      <Show state={state}>
        {(c) => (
          <>
            <table class="fields" id="cluster">
              <tbody>
                <tr>
                  <th>connected</th>
                  <td>{yes(c.connected)}</td>
                </tr>
                <tr>
                  <th>last check-in</th>
                  <td>{c["last-seen"] ? new Date(c["last-seen"]).toLocaleString() : "never"}</td>
                </tr>
                <tr>
                  <th>agent version</th>
                  <td>{c["agent-version"]}</td>
                </tr>
                <tr>
                  <th>clock skew</th>
                  <td>{c["clock-skew-seconds"]} s</td>
                </tr>
                <tr>
                  <th>in sync</th>
                  <td>
                    {yes(c["in-sync"])} (desired {c.desired.index ?? "—"}, applied {c.applied.index ?? "—"})
                  </td>
                </tr>
                <tr>
                  <th>failed objects</th>
                  <td>{(c.failed ?? []).join("; ") || "none"}</td>
                </tr>
              </tbody>
            </table>
            <p>
              Its declaration: <a href={browseLink(`/inventory/v1.0.0/cluster/${encodeURIComponent(name)}`)}>inventory cluster {name}</a>
            </p>
            <MonitorPanel target={{ kind: "cluster", name, site: c.site }} />
            <h2>Facts</h2>
            {c.report ? <Tree id="facts" value={c.report} /> : <p class="note" id="facts">No check-in has reported facts yet.</p>}
            <h2>Objects</h2>
            {c["object-states"]?.length ? <Tree id="object-states" value={c["object-states"]} /> : <p class="note">none reported</p>}
            {c["last-outage"] && (
              <>
                <h2>Last outage</h2>
                <Tree id="last-outage" value={c["last-outage"]} />
              </>
            )}
          </>
        )}
      </Show>
    </section>
  );
}

/** Any JSON value as nested tables: what an agent reports has no fixed schema here. */
function Tree({ value, id }: { value: unknown; id?: string }): preact.JSX.Element {
  if (value === null || typeof value !== "object") return <span id={id}>{String(value)}</span>;
  const rows = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
  return (
    <table class="fields" id={id}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr data-key={k}>
            <th>{k}</th>
            <td>
              <Tree value={v} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
