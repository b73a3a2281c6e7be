// History: the transactions the caller may see (GET /amp/transactions,
// filtered by the server, newest first, paged with before=), each one's
// leaf-level changes (GET /transactions/{index}), the configuration as it
// was after it (the browse views with ?at=), and its rollback for those
// the policy lets roll back (a dry run first; the server's conflict
// report when later transactions changed the same leaves).
import { useState } from "preact/hooks";
import { call, get } from "../api";
import { mayRollBack } from "../access";
import type { Change } from "../basket";
import { modelSets, restBase } from "../models";
import { Refusal, Show, useLoad } from "../load";
import { navigate, root } from "../router";
import { browseLink, Changes } from "./parts";

const pageSize = 50;

interface TxnInfo {
  index: number;
  id: string;
  time: string;
  username: string;
  source: string;
  message?: string;
  "rollback-of"?: number;
  targets: string[];
  sets?: string[];
  "changed-objects": number;
}

const when = (t: string) => new Date(t).toLocaleString();

export function History({ query }: { query: URLSearchParams }) {
  const before = query.get("before") ?? "";
  const state = useLoad(
    () => get<TxnInfo[]>(`/amp/transactions?limit=${pageSize}${before ? `&before=${encodeURIComponent(before)}` : ""}`).then((a) => a.body),
    [before],
  );
  return (
    <section>
      <h1>History</h1>
      <p class="note">The transactions you may see, newest first.</p>
      <Show state={state}>
        {(txns) => (
          <>
            <table id="history">
              <thead>
                <tr>
                  <th>index</th>
                  <th>time</th>
                  <th>who</th>
                  <th>source</th>
                  <th>message</th>
                  <th>enterprises</th>
                  <th>sets</th>
                  <th>objects</th>
                </tr>
              </thead>
              <tbody>
                {txns.map((t) => (
                  <tr data-index={t.index}>
                    <td>
                      <a href={`${root}history/${t.index}`}>{t.index}</a>
                    </td>
                    <td>{when(t.time)}</td>
                    <td>{t.username}</td>
                    <td>{t.source}</td>
                    <td>{t.message}</td>
                    <td class="targets">{t.targets.join(", ")}</td>
                    <td>{(t.sets ?? []).join(", ")}</td>
                    <td>{t["changed-objects"]}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p class="pager">
              {txns.length === 0 && <span id="empty">No transactions{before && " before this one"}.</span>}
              {before && (
                <button type="button" onClick={() => navigate(`${root}history`)}>
                  Newest
                </button>
              )}
              {txns.length === pageSize && (
                <button type="button" id="older" onClick={() => navigate(`${root}history?before=${txns[txns.length - 1]!.index}`)}>
                  Older
                </button>
              )}
            </p>
          </>
        )}
      </Show>
    </section>
  );
}

/** Where to see the configuration as it was after a transaction: each set and enterprise it touched. */
async function roots(t: TxnInfo): Promise<{ label: string; path: string }[]> {
  const sets = (await modelSets()).flatMap((s) => s.versions);
  return (t.sets ?? []).flatMap((sv) => {
    const v = sets.find((x) => `${x.name}/${x.version}` === sv);
    if (!v) return [];
    if (v.scope === "global") return [{ label: sv, path: restBase(v) }];
    return t.targets.map((e) => ({ label: `${sv} ${e}`, path: `${restBase(v)}/${encodeURIComponent(e)}` }));
  });
}

export function Transaction({ index }: { index: string }) {
  const state = useLoad(
    () =>
      get<TxnInfo & { changes: Change[] }>(`/transactions/${encodeURIComponent(index)}`).then(async (a) => ({
        txn: a.body,
        roots: await roots(a.body),
        may: { rollback: await mayRollBack(a.body.changes.map((c) => c.path)) },
      })),
    [index],
  );
  return (
    <section>
      <h1>Transaction {index}</h1>
      <Show state={state}>
        {({ txn, roots, may }) => (
          <>
            <table class="fields" id="txn">
              <tbody>
                <tr>
                  <th>time</th>
                  <td>{when(txn.time)}</td>
                </tr>
                <tr>
                  <th>who</th>
                  <td>{txn.username}</td>
                </tr>
                <tr>
                  <th>source</th>
                  <td>
                    {txn.source}
                    {txn["rollback-of"] && (
                      <>
                        {" "}
                        of <a href={`${root}history/${txn["rollback-of"]}`}>{txn["rollback-of"]}</a>
                      </>
                    )}
                  </td>
                </tr>
                <tr>
                  <th>message</th>
                  <td>{txn.message}</td>
                </tr>
                <tr>
                  <th>id</th>
                  <td>{txn.id}</td>
                </tr>
              </tbody>
            </table>
            <h2>Changes</h2>
            <Changes changes={txn.changes} id="txn-changes" />
            {roots.length > 0 && (
              <p id="at-links">
                The configuration as it was after this transaction:{" "}
                {roots.map((r) => (
                  <a class="at-link" href={browseLink(r.path, index)}>
                    {r.label}
                  </a>
                ))}
              </p>
            )}
            {may.rollback && <Rollback index={index} />}
          </>
        )}
      </Show>
    </section>
  );
}

/** Roll back: the server's dry run (or its conflict report), then the rollback itself. */
function Rollback({ index }: { index: string }) {
  const [preview, setPreview] = useState<Change[] | null>(null);
  const [refusal, setRefusal] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const [busy, setBusy] = useState(false);
  const send = async (dryRun: boolean) => {
    setBusy(true);
    setRefusal(null);
    try {
      const a = await call<{ changes: Change[] }>("POST", `/transactions/${encodeURIComponent(index)}/rollback${dryRun ? "?dry-run=true" : ""}`);
      if (dryRun) setPreview(a.body.changes);
      else {
        setPreview(null);
        setDone(a.headers.get("X-AMP-Transaction-Index") ?? "");
      }
    } catch (e) {
      setPreview(null);
      setRefusal(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="rollback" id="rollback-panel">
      <h2>Rollback</h2>
      {done ? (
        <p class="committed" id="rolled-back" role="status">
          Rolled back by transaction <a href={`${root}history/${done}`}>{done}</a>.
        </p>
      ) : (
        <button type="button" id="rollback" disabled={busy} onClick={() => void send(true)}>
          Roll back…
        </button>
      )}
      {refusal !== null && (
        <div id="rollback-refused">
          <Refusal error={refusal} />
        </div>
      )}
      {preview && (
        <div id="rollback-preview">
          <h3>The rollback would change</h3>
          <Changes changes={preview} />
          <button type="button" id="rollback-confirm" disabled={busy} onClick={() => void send(false)}>
            Roll back transaction {index}
          </button>
        </div>
      )}
    </div>
  );
}
