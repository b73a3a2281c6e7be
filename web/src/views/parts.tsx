// Pieces several views show alike: a transaction's leaf-level changes,
// the backends' verdict on a commit, the sync status of objects.
import type { Applied, Change, SyncObject } from "../basket";
import { root } from "../router";

/** A REST path of configuration as a link to its view (the browse view resolves leaves to their entry). */
export const browseLink = (path: string, at?: string) => `${root}browse${path}${at ? `?at=${at}` : ""}`;

const shown = (v: unknown) => JSON.stringify(v);

/** Leaf-level changes (path, op, old, new) as the server answered them. */
export function Changes({ changes, id }: { changes: Change[]; id?: string }) {
  if (changes.length === 0) {
    return (
      <p class="note" id={id}>
        nothing
      </p>
    );
  }
  return (
    <table class="changes" id={id}>
      <thead>
        <tr>
          <th>change</th>
          <th>path</th>
          <th>old</th>
          <th>new</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr data-path={c.path}>
            <td>{c.op}</td>
            <td>
              <code>{c.path}</code>
            </td>
            <td>{c.old !== undefined && shown(c.old)}</td>
            <td>{c.new !== undefined && shown(c.new)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What the backends did with a commit answered with ?wait=applied. */
export function Verdict({ applied }: { applied?: Applied }) {
  if (!applied?.sync) return null;
  return (
    <div class={`verdict sync-${applied.sync}`} id="verdict">
      <p>
        Backends: <strong>{applied.sync}</strong>
        {applied.sync === "pending" && " (not applied yet: the change is committed and will still be applied)"}
        {applied.objects.length === 0 && " (no backend object derives from this change)"}
      </p>
      {applied.objects.length > 0 && <SyncTable objects={applied.objects} />}
    </div>
  );
}

/** Objects the adapters derive from configuration, each with its status and, on error, the reason. */
export function SyncTable({ objects, id }: { objects: SyncObject[]; id?: string }) {
  return (
    <table class="sync" id={id}>
      <thead>
        <tr>
          <th>adapter</th>
          <th>object</th>
          <th>backend</th>
          <th>status</th>
          <th>applied / wanted</th>
          <th>message</th>
        </tr>
      </thead>
      <tbody>
        {objects.map((o) => (
          <tr data-adapter={o.adapter} data-status={o.status}>
            <td>{o.adapter}</td>
            <td>{o.id}</td>
            <td>{o.backend}</td>
            <td class={`status sync-${o.status}`}>{o.status}</td>
            <td>
              {o["applied-index"] ?? ""} / {o["wanted-index"] ?? ""}
            </td>
            <td>{o.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
