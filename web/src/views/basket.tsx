// The basket's view: the staged edits, a dry run of them all as the server
// answers it, then ONE commit (POST /transactions), or discard. A refusal
// is shown at the edit its path falls in; a 412 (an object changed since
// its edit was made) offers to rebase that edit: read the object again and
// apply the same change over it, showing what moved meanwhile. A failed
// commit leaves the basket as it was.
import { useState } from "preact/hooks";
import { APIError, call, type Problem } from "../api";
import { basket, editOf, useBasket, type Applied, type Change, type StagedEdit } from "../basket";
import { Refusal } from "../load";
import { root } from "../router";
import { waitApplied } from "./edit";
import { browseLink, Changes, Verdict } from "./parts";

type Obj = Record<string, unknown>;

/** The leaves a merge patch sets, as paths below its object: mbr/uplink. */
function leavesOf(patch: Obj, prefix = ""): string[] {
  return Object.entries(patch).flatMap(([k, v]) =>
    v && typeof v === "object" && !Array.isArray(v) ? leavesOf(v as Obj, `${prefix}${k}/`) : [prefix + k],
  );
}

const valueAt = (o: Obj, rel: string): unknown =>
  rel.split("/").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), o);

export function Basket() {
  const edits = useBasket();
  const [busy, setBusy] = useState(false);
  const [preview, setPreview] = useState<Change[] | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [conflicts, setConflicts] = useState<Set<string>>(new Set());
  const [moved, setMoved] = useState<Record<string, string[]>>({});
  const [refusal, setRefusal] = useState<unknown>(null);
  const [committed, setCommitted] = useState<{ index: string; applied: Applied } | null>(null);

  const send = async (dryRun: boolean) => {
    setBusy(true);
    setProblems([]);
    setRefusal(null);
    setConflicts(new Set());
    try {
      const a = await call<{ changes?: Change[] } & Applied>("POST", `/transactions?${dryRun ? "dry-run=true" : waitApplied}`, {
        body: basket.body(),
        headers: { "X-AMP-Message": `portal basket: ${edits.length} ${edits.length === 1 ? "edit" : "edits"}` },
      });
      if (dryRun) {
        setPreview(a.body.changes ?? []);
      } else {
        setCommitted({ index: a.headers.get("X-AMP-Transaction-Index") ?? String(a.body.index), applied: a.body });
        setPreview(null);
        setMoved({});
        basket.clear();
      }
    } catch (e) {
      setPreview(null);
      const ps = e instanceof APIError ? e.problems : [];
      setProblems(ps.filter((p) => editOf(p.path)));
      if (e instanceof APIError && e.status === 412) setConflicts(new Set(ps.map((p) => editOf(p.path)?.path ?? "")));
      if (!(e instanceof APIError) || ps.length === 0 || ps.some((p) => !editOf(p.path))) setRefusal(e);
    } finally {
      setBusy(false);
    }
  };

  const rebase = async (e: StagedEdit) => {
    setBusy(true);
    try {
      await basket.rebase(e.path);
      const now = basket.edits.find((x) => x.path === e.path);
      const changed = leavesOf(e.value).filter((rel) => JSON.stringify(valueAt(e.base, rel)) !== JSON.stringify(now && valueAt(now.base, rel)));
      setMoved({ ...moved, [e.path]: changed.map((rel) => `${rel} was ${JSON.stringify(valueAt(e.base, rel))}, is now ${JSON.stringify(now && valueAt(now.base, rel))}`) });
      const left = new Set(conflicts);
      left.delete(e.path);
      setConflicts(left);
      setProblems(problems.filter((p) => editOf(p.path)?.path !== e.path));
      setPreview(null);
    } catch (err) {
      setRefusal(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section id="basket">
      <h1>Basket</h1>
      {committed && (
        <div class="committed" id="committed" role="status">
          <p>
            Committed as transaction <a href={`${root}history/${committed.index}`}>{committed.index}</a>.
          </p>
          <Verdict applied={committed.applied} />
        </div>
      )}
      {refusal !== null && <Refusal error={refusal} />}
      {edits.length === 0 ? (
        <p class="note" id="basket-empty">
          The basket is empty. Edit an entry and choose <em>Add to basket</em> to stage a change; edits of several objects are then
          committed together, as one transaction.
        </p>
      ) : (
        <>
          <table id="staged">
            <thead>
              <tr>
                <th>object</th>
                <th>change (merge patch)</th>
                <th>read at</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {edits.map((e) => {
                const mine = problems.filter((p) => editOf(p.path)?.path === e.path);
                return (
                  <tr data-path={e.path} class={mine.length ? "invalid" : ""}>
                    <td>
                      <a href={browseLink(e.path)}>{e.path}</a>
                    </td>
                    <td>
                      <code>{JSON.stringify(e.value)}</code>
                      {e.removes.map((r) => (
                        <p class="removes">
                          removes <code>{r.slice(e.path.length + 1)}</code>
                        </p>
                      ))}
                      {mine.map((p) => (
                        <p class="field-error" role="alert">
                          <code>{p.path.slice(e.path.length + 1) || p.path}</code>: {p.reason}
                        </p>
                      ))}
                      {moved[e.path] && (
                        <p class="note rebased">
                          Rebased on the object as it is now.{" "}
                          {moved[e.path]!.length ? `Changed meanwhile: ${moved[e.path]!.join("; ")}.` : "None of the leaves this edit sets changed."}
                        </p>
                      )}
                    </td>
                    <td>{e.etag || "—"}</td>
                    <td class="actions">
                      {conflicts.has(e.path) && (
                        <button type="button" class="rebase" disabled={busy} onClick={() => void rebase(e)}>
                          Rebase
                        </button>
                      )}
                      <button
                        type="button"
                        class="remove"
                        disabled={busy}
                        onClick={() => {
                          basket.remove(e.path);
                          setPreview(null);
                        }}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <div class="actions">
            <button type="button" id="basket-dry-run" disabled={busy} onClick={() => void send(true)}>
              Check (dry run)
            </button>
            <button
              type="button"
              id="basket-discard"
              disabled={busy}
              onClick={() => {
                basket.clear();
                setPreview(null);
                setProblems([]);
                setRefusal(null);
              }}
            >
              Discard all
            </button>
          </div>
          {preview && (
            <div id="basket-preview">
              <h2>The server would change, in one transaction</h2>
              <Changes changes={preview} />
              <button type="button" id="basket-commit" disabled={busy || preview.length === 0} onClick={() => void send(false)}>
                Commit
              </button>
            </div>
          )}
        </>
      )}
    </section>
  );
}
