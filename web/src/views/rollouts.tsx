// The operators' view of fleet rollouts (docs/lifecycle.md): each
// rollout's phase and what it waits on, its stages with their partitions
// and gates, the plan's partitions and their state, the clusters per
// version of its bundle, the history, and, to those the policy lets write
// the rollout, an Approve button (POST /fleet/rollouts/{id}/approve, what
// `amp fleet approve` calls; audited). A halted rollout shows the reason.
import { useState } from "preact/hooks";
import { call, get } from "../api";
import { Refusal, Show, useLoad } from "../load";
import { root } from "../router";
import { browseLink } from "./parts";

const base = "/fleet/v1.0.0";
const enc = encodeURIComponent;

interface Stage {
  group: string;
  order?: number;
  partition?: string[];
  "max-unavailable"?: number;
  "bake-time"?: number;
  "manual-approval"?: boolean;
  "helm-test"?: boolean;
  "metric-gate"?: { query?: string };
  window?: { allowed?: string[]; blackout?: string[]; "time-zone"?: string };
}

interface Status {
  workflow?: string;
  version?: string;
  phase?: string;
  partition?: number;
  partitions?: number;
  "waiting-on"?: string;
  "halted-reason"?: string;
  unmatched?: string[];
  skipped?: { cluster: string; reason?: string }[];
  plan?: { index: number; stage?: string; name?: string; cluster?: string[]; state?: string }[];
  history?: { seq: number; at?: string; event?: string; partition?: number; detail?: string }[];
}

interface Rollout {
  "rollout-id": string;
  bundle?: string;
  version?: string;
  stage?: Stage[];
  status?: Status;
}

interface Bundle {
  deployment?: { cluster: string; "active-version"?: string; "staged-version"?: string; state?: string }[];
}

export function Rollouts() {
  const state = useLoad(() => get<Rollout[]>(`${base}/rollout`).then((a) => a.body), []);
  return (
    <section>
      <h1>Rollouts</h1>
      <Show state={state}>
        {(list) =>
          list.length === 0 ? (
            <p class="note" id="rollouts">
              No rollout is declared (the fleet set's list rollout).
            </p>
          ) : (
            <table id="rollouts">
              <thead>
                <tr>
                  <th>rollout</th>
                  <th>bundle</th>
                  <th>version</th>
                  <th>phase</th>
                  <th>partition</th>
                  <th>waiting on / halted because</th>
                </tr>
              </thead>
              <tbody>
                {list.map((r) => (
                  <tr data-rollout={r["rollout-id"]} data-phase={r.status?.phase ?? ""}>
                    <td>
                      <a href={`${root}rollouts/${enc(r["rollout-id"])}`}>{r["rollout-id"]}</a>
                    </td>
                    <td>{r.bundle}</td>
                    <td>{r.version}</td>
                    <td class="phase">{r.status?.phase ?? "not started"}</td>
                    <td>{r.status?.partitions ? `${r.status.partition ?? 0}/${r.status.partitions}` : ""}</td>
                    <td class="reason">{r.status?.["halted-reason"] || r.status?.["waiting-on"]}</td>
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

/** Whether the caller may write the rollout, which approving is (the server judges the call itself). */
async function mayApprove(id: string): Promise<boolean> {
  const path = `${base}/rollout/${enc(id)}`;
  const { body } = await get<{ access: { path: string; write: boolean }[] }>(`/whoami?path=${enc(path)}`);
  return body.access.some((a) => a.path === path && a.write);
}

export function RolloutView({ id }: { id: string }) {
  const [n, reload] = useState(0);
  const [outcome, setOutcome] = useState<{ ok: string } | { error: unknown } | null>(null);
  const state = useLoad(async () => {
    const r = (await get<Rollout>(`${base}/rollout/${enc(id)}`)).body;
    const [bundle, approver] = await Promise.all([
      r.bundle ? get<Bundle>(`${base}/bundle/${enc(r.bundle)}`).then((a) => a.body, () => null) : null,
      mayApprove(id).catch(() => false),
    ]);
    return { r, bundle, approver };
  }, [id, n]);
  const approve = async () => {
    try {
      const { body } = await call<{ partition: number; "approved-by": string; note?: string }>("POST", `/fleet/rollouts/${enc(id)}/approve`);
      setOutcome({ ok: `Approved by ${body["approved-by"]}: partition ${body.partition} may start (${body.note ?? ""}).` });
    } catch (e) {
      setOutcome({ error: e });
    }
    reload((k) => k + 1);
  };
  return (
    <section>
      <h1>Rollout {id}</h1>
      {outcome && ("ok" in outcome ? <p class="committed" id="approved" role="status">{outcome.ok}</p> : <Refusal error={outcome.error} />)}
      <Show state={state}>
        {({ r, bundle, approver }) => {
          const st = r.status ?? {};
          const waitsForApproval = st.phase === "gated" && (st["waiting-on"] ?? "").includes("approval");
          return (
            <>
              <table class="fields" id="rollout">
                <tbody>
                  <tr>
                    <th>bundle, version</th>
                    <td>
                      {r.bundle && <a href={browseLink(`${base}/bundle/${enc(r.bundle)}`)}>{r.bundle}</a>} {r.version}
                    </td>
                  </tr>
                  <tr>
                    <th>phase</th>
                    <td class="phase">{st.phase ?? "not started"}</td>
                  </tr>
                  <tr>
                    <th>partition</th>
                    <td>{st.partitions ? `${st.partition ?? 0} of ${st.partitions}` : "—"}</td>
                  </tr>
                  {st["waiting-on"] && (
                    <tr>
                      <th>waiting on</th>
                      <td id="waiting-on">{st["waiting-on"]}</td>
                    </tr>
                  )}
                  {st["halted-reason"] && (
                    <tr>
                      <th>halted because</th>
                      <td class="error" id="halted-reason">
                        {st["halted-reason"]}
                      </td>
                    </tr>
                  )}
                  {st.workflow && (
                    <tr>
                      <th>workflow run</th>
                      <td>{st.workflow}</td>
                    </tr>
                  )}
                </tbody>
              </table>
              <div class="actions">
                {approver && waitsForApproval && (
                  <button type="button" id="approve" onClick={approve}>
                    Approve
                  </button>
                )}
                <button type="button" id="rollout-refresh" onClick={() => reload((k) => k + 1)}>
                  Refresh
                </button>
              </div>
              <h2>Stages and gates</h2>
              <Stages stages={r.stage ?? []} />
              <h2>Partitions</h2>
              {st.plan?.length ? (
                <table id="plan">
                  <thead>
                    <tr>
                      <th>#</th>
                      <th>stage</th>
                      <th>partition</th>
                      <th>clusters</th>
                      <th>state</th>
                    </tr>
                  </thead>
                  <tbody>
                    {st.plan.map((p) => (
                      <tr data-index={p.index} data-state={p.state ?? ""}>
                        <td>{p.index}</td>
                        <td>{p.stage}</td>
                        <td>{p.name}</td>
                        <td>{(p.cluster ?? []).join(", ")}</td>
                        <td class="state">{p.state}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              ) : (
                <p class="note">not planned yet</p>
              )}
              {!!(st.unmatched?.length || st.skipped?.length) && (
                <p class="note" id="skipped">
                  {st.unmatched?.length ? `In no partition: ${st.unmatched.join(", ")}. ` : ""}
                  {st.skipped?.length ? `Skipped: ${st.skipped.map((s) => `${s.cluster} (${s.reason ?? ""})`).join(", ")}.` : ""}
                </p>
              )}
              <h2>Clusters per version of {r.bundle}</h2>
              <Versions bundle={bundle} />
              <h2>History</h2>
              <table id="rollout-history">
                <tbody>
                  {(st.history ?? []).map((h) => (
                    <tr data-event={h.event ?? ""}>
                      <td>{h.at ? new Date(h.at).toLocaleString() : ""}</td>
                      <td>{h.event}</td>
                      <td>{h.partition}</td>
                      <td>{h.detail}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          );
        }}
      </Show>
    </section>
  );
}

function gates(s: Stage): string[] {
  const g: string[] = [];
  if (s["bake-time"]) g.push(`bake ${s["bake-time"]} s`);
  if (s.window?.allowed?.length) g.push(`allowed ${s.window.allowed.join(", ")}`);
  if (s.window?.blackout?.length) g.push(`blackout ${s.window.blackout.join(", ")}`);
  if (s["manual-approval"]) g.push("manual approval");
  if (s["metric-gate"]?.query) g.push(`metric ${s["metric-gate"].query}`);
  if (s["helm-test"]) g.push("helm test");
  return g;
}

function Stages({ stages }: { stages: Stage[] }) {
  return (
    <table id="stages">
      <thead>
        <tr>
          <th>order</th>
          <th>group</th>
          <th>partitions</th>
          <th>wave (max unavailable)</th>
          <th>gates</th>
        </tr>
      </thead>
      <tbody>
        {[...stages]
          .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
          .map((s) => (
            <tr data-group={s.group}>
              <td>{s.order}</td>
              <td>{s.group}</td>
              <td>{(s.partition ?? []).join(", ") || "the whole group"}</td>
              <td>{s["max-unavailable"] ?? 1}</td>
              <td>{gates(s).join("; ") || "none"}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

function Versions({ bundle }: { bundle: Bundle | null }) {
  if (!bundle) return <p class="note">The bundle could not be read.</p>;
  const by = new Map<string, { cluster: string; state?: string }[]>();
  for (const d of bundle.deployment ?? []) {
    const v = d["active-version"] || "none";
    by.set(v, [...(by.get(v) ?? []), { cluster: d.cluster, state: d.state }]);
  }
  if (by.size === 0) return <p class="note">No cluster runs the bundle.</p>;
  return (
    <table id="versions">
      <thead>
        <tr>
          <th>version</th>
          <th>clusters</th>
        </tr>
      </thead>
      <tbody>
        {[...by].map(([v, cs]) => (
          <tr data-version={v}>
            <td>{v}</td>
            <td>{cs.map((c) => `${c.cluster}${c.state ? ` (${c.state})` : ""}`).join(", ")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
