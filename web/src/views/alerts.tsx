// Alerts firing and silences, per enterprise (docs/monitoring.md): the
// firing alerts are Prometheus's ALERTS series through the tenant-safe
// query API (an enterprise's only), the silences Alertmanager's through
// /monitor/silences/{enterprise}. Those the policy lets write the
// enterprise's monitor configuration (its admins, operators) create a
// silence, from scratch or from a firing alert, and expire one; the
// server adds enterprise="<id>" to every silence and audits both.
import { useState } from "preact/hooks";
import { call, get } from "../api";
import { Refusal, Show, useLoad } from "../load";
import { queryNow } from "../metrics";
import { navigate, root } from "../router";

interface Enterprise {
  "enterprise-id": string;
  "display-name"?: string;
}

interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean;
}

interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy?: string;
  comment?: string;
  status?: { state: string };
}

const enc = encodeURIComponent;

export function Alerts({ query }: { query: URLSearchParams }) {
  const state = useLoad(() => get<Enterprise[]>("/enterprises").then((a) => a.body), []);
  return (
    <section>
      <h1>Alerts and silences</h1>
      <Show state={state}>
        {(ents) => {
          if (ents.length === 0) return <p class="note">No enterprise you may read.</p>;
          const ent = query.get("enterprise") ?? ents[0]["enterprise-id"];
          return (
            <>
              <label>
                enterprise{" "}
                <select id="alerts-enterprise" value={ent} onChange={(e) => navigate(`${root}alerts?enterprise=${enc((e.target as HTMLSelectElement).value)}`)}>
                  {ents.map((e) => (
                    <option value={e["enterprise-id"]}>{e["display-name"] || e["enterprise-id"]}</option>
                  ))}
                </select>
              </label>
              <EnterpriseAlerts enterprise={ent} key={ent} />
            </>
          );
        }}
      </Show>
    </section>
  );
}

async function mayWriteMonitor(enterprise: string): Promise<boolean> {
  const path = `/monitor/v1.0.0/${enc(enterprise)}`;
  const { body } = await get<{ access: { path: string; write: boolean }[] }>(`/whoami?path=${enc(path)}`);
  return body.access.some((a) => a.path === path && a.write);
}

function EnterpriseAlerts({ enterprise }: { enterprise: string }) {
  const [n, reload] = useState(0);
  const [draft, setDraft] = useState<Matcher[] | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const firing = useLoad(() => queryNow('ALERTS{alertstate="firing"}', enterprise), [enterprise, n]);
  const silences = useLoad(
    () =>
      Promise.all([
        get<Silence[]>(`/monitor/silences/${enc(enterprise)}`).then((a) => a.body),
        mayWriteMonitor(enterprise).catch(() => false),
      ]),
    [enterprise, n],
  );
  const writable = silences !== null && "value" in silences && silences.value[1];
  const expire = async (id: string) => {
    setFailure(null);
    try {
      await call("DELETE", `/monitor/silences/${enc(enterprise)}/${enc(id)}`);
    } catch (e) {
      setFailure(e);
    }
    reload((k) => k + 1);
  };
  return (
    <>
      <h2>Firing</h2>
      <Show state={firing}>
        {(alerts) =>
          alerts.length === 0 ? (
            <p class="note" id="firing">
              No alert is firing.
            </p>
          ) : (
            <table id="firing">
              <thead>
                <tr>
                  <th>alert</th>
                  <th>severity</th>
                  <th>labels</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {alerts.map((a) => {
                  const { __name__, alertstate, enterprise: _e, ...labels } = a.labels;
                  return (
                    <tr data-alert={labels.alertname ?? ""}>
                      <td>{labels.alertname}</td>
                      <td>{labels.severity}</td>
                      <td>
                        {Object.entries(labels)
                          .filter(([k]) => k !== "alertname" && k !== "severity")
                          .map(([k, v]) => `${k}=${v}`)
                          .join(", ")}
                      </td>
                      <td>
                        {writable && (
                          <button type="button" class="silence-alert" onClick={() => setDraft(Object.entries(labels).map(([name, value]) => ({ name, value, isRegex: false })))}>
                            Silence…
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )
        }
      </Show>
      <h2>Silences</h2>
      {failure !== null && <Refusal error={failure} />}
      <Show state={silences}>
        {([list]) => (
          <>
            {list.length === 0 ? (
              <p class="note" id="silences">
                No silence.
              </p>
            ) : (
              <table id="silences">
                <thead>
                  <tr>
                    <th>state</th>
                    <th>matchers</th>
                    <th>until</th>
                    <th>by</th>
                    <th>comment</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {list.map((s) => (
                    <tr data-silence={s.id} data-state={s.status?.state ?? ""}>
                      <td class="state">{s.status?.state}</td>
                      <td>{s.matchers.map((m) => `${m.name}${m.isEqual === false ? "!" : ""}${m.isRegex ? "=~" : "="}${m.value}`).join(", ")}</td>
                      <td>{new Date(s.endsAt).toLocaleString()}</td>
                      <td>{s.createdBy}</td>
                      <td>{s.comment}</td>
                      <td>
                        {writable && s.status?.state !== "expired" && (
                          <button type="button" class="expire" onClick={() => expire(s.id)}>
                            Expire
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {writable && !draft && (
              <button type="button" id="new-silence" onClick={() => setDraft([{ name: "alertname", value: "", isRegex: false }])}>
                New silence
              </button>
            )}
          </>
        )}
      </Show>
      {writable && draft && (
        <SilenceForm
          enterprise={enterprise}
          matchers={draft}
          onDone={() => {
            setDraft(null);
            reload((k) => k + 1);
          }}
        />
      )}
    </>
  );
}

/** A new silence's matchers (one per line, name=value or name=~regex), duration and comment; the server's errors shown. */
function SilenceForm({ enterprise, matchers, onDone }: { enterprise: string; matchers: Matcher[]; onDone: () => void }) {
  const [text, setText] = useState(matchers.map((m) => `${m.name}${m.isRegex ? "=~" : "="}${m.value}`).join("\n"));
  const [duration, setDuration] = useState("2h");
  const [comment, setComment] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    const parsed = text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const m = /^([^=!~\s]+)\s*(=~|=)\s*(.*)$/.exec(l);
        return m ? { name: m[1], value: m[3], isRegex: m[2] === "=~" } : { name: l, value: "", isRegex: false };
      });
    try {
      await call("POST", `/monitor/silences/${enc(enterprise)}`, { body: { matchers: parsed, duration, comment } });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form id="silence-form" onSubmit={submit}>
      <h3>New silence for {enterprise}</h3>
      <label>
        matchers (one per line: name=value or name=~regex)
        <textarea name="matchers" rows={4} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
      </label>
      <label>
        duration <input name="duration" value={duration} onInput={(e) => setDuration((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        comment <input name="comment" value={comment} onInput={(e) => setComment((e.target as HTMLInputElement).value)} />
      </label>
      {error !== null && <Refusal error={error} />}
      <button type="submit">Create silence</button>{" "}
      <button type="button" onClick={onDone}>
        Cancel
      </button>
    </form>
  );
}
