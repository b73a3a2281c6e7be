// The audit trail (GET /audit): who did what, when, from where and with
// what outcome, newest first, only the records the caller may read (the
// server filters them), paged by the server's Link: rel="next".
import { useState } from "preact/hooks";
import { call } from "../api";
import { Show, useLoad } from "../load";
import { navigate, root } from "../router";

interface AuditRecord {
  seq: number;
  time: string;
  principal: string;
  via?: string;
  source?: string;
  interface: string;
  action: string;
  method?: string;
  paths?: string[];
  transaction?: number;
  outcome: string;
  reason?: string;
}

const filters = ["principal", "path", "outcome"] as const;

/** The before= of the server's next page, from its Link header. */
function nextBefore(link: string | null): string {
  const m = /<([^>]*)>;\s*rel="next"/.exec(link ?? "");
  return m ? (new URL(m[1]!, location.origin).searchParams.get("before") ?? "") : "";
}

export function Audit({ query }: { query: URLSearchParams }) {
  const q = new URLSearchParams({ limit: "50" });
  for (const k of [...filters, "before"]) {
    const v = query.get(k);
    if (v) q.set(k, v);
  }
  const state = useLoad(() => call<AuditRecord[]>("GET", `/audit?${q}`), [q.toString()]);
  return (
    <section>
      <h1>Audit trail</h1>
      <AuditFilter query={query} />
      <Show state={state}>
        {(a) => {
          const next = nextBefore(a.headers.get("Link"));
          return (
            <>
              <table id="audit">
                <thead>
                  <tr>
                    <th>time</th>
                    <th>who</th>
                    <th>from</th>
                    <th>what</th>
                    <th>paths</th>
                    <th>outcome</th>
                    <th>transaction</th>
                  </tr>
                </thead>
                <tbody>
                  {a.body.map((r) => (
                    <tr data-seq={r.seq} data-outcome={r.outcome}>
                      <td>{new Date(r.time).toLocaleString()}</td>
                      <td class="principal">
                        {r.principal}
                        {r.via && <span class="note"> ({r.via})</span>}
                      </td>
                      <td class="source">{r.source}</td>
                      <td>
                        {r.interface} {r.action} {r.method}
                      </td>
                      <td>
                        {(r.paths ?? []).map((p) => (
                          <div>
                            <code>{p}</code>
                          </div>
                        ))}
                      </td>
                      <td>
                        {r.outcome}
                        {r.reason && <div class="note">{r.reason}</div>}
                      </td>
                      <td>{r.transaction ? <a href={`${root}history/${r.transaction}`}>{r.transaction}</a> : ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <p class="pager">
                {a.body.length === 0 && <span id="empty">No records.</span>}
                {next && (
                  <button
                    type="button"
                    id="older"
                    onClick={() => {
                      const p = new URLSearchParams(query);
                      p.set("before", next);
                      navigate(`${root}audit?${p}`);
                    }}
                  >
                    Older
                  </button>
                )}
              </p>
            </>
          );
        }}
      </Show>
    </section>
  );
}

function AuditFilter({ query }: { query: URLSearchParams }) {
  const [values, setValues] = useState<{ [k: string]: string }>(Object.fromEntries(filters.map((k) => [k, query.get(k) ?? ""])));
  return (
    <form
      class="filter"
      id="audit-filter"
      onSubmit={(e) => {
        e.preventDefault();
        const p = new URLSearchParams();
        for (const k of filters) if (values[k]) p.set(k, values[k]!);
        navigate(`${root}audit${p.size ? `?${p}` : ""}`);
      }}
    >
      {filters.map((k) => (
        <input
          name={k}
          aria-label={k}
          placeholder={k === "path" ? "path prefix" : k === "outcome" ? "allowed, denied, error" : k}
          value={values[k]}
          onInput={(e) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value })}
        />
      ))}
      <button type="submit">Filter</button>
    </form>
  );
}
