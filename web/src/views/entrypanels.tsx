// The panels under an entry: where it is used and what it uses (GET
// /references: leafrefs and references across model sets, only what the
// caller may read), and what the backends made of it (GET
// /sync-status?path=: each object an adapter derives from the entry, or
// from anything below it, with its status and, on error, the reason).
import { useState } from "preact/hooks";
import { call } from "../api";
import { type SyncObject } from "../basket";
import { Show, useLoad } from "../load";
import { browseLink, SyncTable } from "./parts";

interface Reference {
  object: string;
  leaf: string;
  value: string;
  target?: string;
}

interface References {
  referrers: Reference[];
  "refers-to": Reference[];
  truncated?: boolean;
}

export function WhereUsed({ path }: { path: string }) {
  const state = useLoad(() => call<References>("GET", `/references?path=${encodeURIComponent(path)}`).then((a) => a.body), [path]);
  return (
    <div class="where-used" id="where-used">
      <h2>Where used</h2>
      <Show state={state}>
        {(refs) => (
          <>
            <h3>Used by</h3>
            {refs.referrers.length === 0 ? (
              <p class="note" id="used-by">
                nothing refers to it: it may be deleted
              </p>
            ) : (
              <table id="used-by">
                <tbody>
                  {refs.referrers.map((r) => (
                    <tr>
                      <td>
                        <a href={browseLink(r.object)}>{r.object}</a>
                      </td>
                      <td>
                        <code>{r.leaf.slice(r.object.length + 1)}</code> = {r.value}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <h3>Uses</h3>
            {refs["refers-to"].length === 0 ? (
              <p class="note" id="uses">
                nothing
              </p>
            ) : (
              <table id="uses">
                <tbody>
                  {refs["refers-to"].map((r) => (
                    <tr>
                      <td>
                        <code>{r.leaf.slice(r.object.length + 1)}</code> = {r.value}
                      </td>
                      <td>{r.target && <a href={browseLink(r.target)}>{r.target}</a>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {refs.truncated && <p class="note">Only the first 1,000 of each are shown.</p>}
          </>
        )}
      </Show>
    </div>
  );
}

export function SyncStatus({ path }: { path: string }) {
  const [n, refresh] = useState(0);
  const state = useLoad(
    () => call<{ objects: SyncObject[] }>("GET", `/sync-status?path=${encodeURIComponent(path)}`).then((a) => a.body.objects),
    [path, n],
  );
  return (
    <div class="sync-status">
      <h2>Sync status</h2>
      <Show state={state}>
        {(objects) =>
          objects.length === 0 ? (
            <p class="note" id="sync">
              No backend object derives from this entry.
            </p>
          ) : (
            <SyncTable objects={objects} id="sync" />
          )
        }
      </Show>
      <button type="button" id="sync-refresh" onClick={() => refresh((k) => k + 1)}>
        Refresh
      </button>
    </div>
  );
}
