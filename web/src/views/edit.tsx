// The form of one entry, generated from the tree (which leaves are
// configuration, which are keys) and the OpenAPI schema (types, ranges,
// patterns, defaults, mandatory, enumerations; references offer the
// server's …/values): form.ts. The server stays the only judge: the form
// sends what the user typed, a dry run first (PATCH ?dry-run=true, its
// changes shown), then the commit, both with If-Match; every error is
// shown at the field its path names, the rest above the form. The commit
// waits for the backends (?wait=applied) and says what they did. Instead
// of committing, the edit may be added to the basket (basket.ts), to be
// committed with edits of other objects as one transaction. Lists within
// the entry (a device group's devices, a slice's filters) and the lists
// within their entries, to any depth (a site's devices' interfaces), are
// edited in place, one row per entry (lists.tsx): rows added or changed go
// in the merge patch as that list's entries, rows removed as deletes of
// those entries in the same transaction (POST /transactions), their
// errors shown at their fields.
import { useEffect, useRef, useState } from "preact/hooks";
import { APIError, call, type Problem } from "../api";
import type { Node } from "../models";
import { Refusal } from "../load";
import { basket, type Applied, type Change } from "../basket";
import { editOf, formOf, mergePatch, placeOf, placesOf, rowOf, type Form, type Obj, type Row } from "../form";
import { Changes } from "./parts";
import { Errors, hint, Input } from "./inputs";
import { ListEditor, type FormContext } from "./lists";
import { isReference, schemaOf } from "../spec";

/** How an edit ended: committed (with the backends' verdict), staged in the basket, or cancelled (undefined). */
export type Outcome = { committed: string; applied?: Applied } | { staged: true };

/** How long a commit waits for the backends before answering "pending" (the change stays committed). */
export const waitApplied = "wait=applied&wait-timeout=15s";

export function EditForm({ node, path, data, etag, onDone }: { node: Node; path: string; data: Obj; etag: string; onDone: (o?: Outcome) => void }) {
  const [form, setForm] = useState<Form | { error: unknown } | null>(null);
  const [root, setRoot] = useState<Row | null>(null); // the entry edited, its lists' rows below it
  const [choices, setChoices] = useState<Record<string, string[]>>({});
  const asked = useRef(new Set<string>());
  const [errors, setErrors] = useState<Problem[]>([]);
  const [refusal, setRefusal] = useState<unknown>(null);
  const [preview, setPreview] = useState<Change[] | null>(null);
  const [busy, setBusy] = useState(false);

  // a reference's choices, asked once per …/values path (a nested entry's of an entry that need not exist)
  const ask = (values: string) => {
    if (asked.current.has(values)) return;
    asked.current.add(values);
    call<{ values: unknown[] }>("GET", values).then(
      (a) => setChoices((c) => ({ ...c, [values]: a.body.values.map(String) })),
      () => undefined, // no choices offered: the field stays free text
    );
  };

  useEffect(() => {
    schemaOf(path).then(
      (r) => {
        if (!r) return setForm({ error: `the OpenAPI document has no schema for ${path}` });
        const f = formOf(node, r.schema, r.doc);
        setRoot(rowOf(f, data));
        setForm(f);
        for (const x of f.fields.filter((x) => isReference(x.schema))) ask(`${path}/${x.rel}/values`);
      },
      (error: unknown) => setForm({ error }),
    );
  }, [path]);

  if (form === null || (root === null && !("error" in form))) return <p class="loading">Loading the schema…</p>;
  if ("error" in form) return <Refusal error={form.error} />;
  const entry = root!;
  const change = (r: Row) => {
    setRoot(r);
    setPreview(null);
  };
  // the whole edit: the entry's merge patch (its lists' rows in it, at any depth) and the nested entries removed
  const edit = () => {
    const e = editOf(form, entry, data);
    return { patch: e.patch, removed: e.removed.map((rel) => `${path}/${rel}`) };
  };
  // where a server error may be shown: each field, and each row of a list at any depth and its fields
  const places = placesOf(form, entry);
  const byPlace = new Map<string, Problem[]>(); // each place's errors, worked out once a render
  for (const p of errors) {
    const at = placeOf(places, path, p.path);
    if (at !== undefined) byPlace.set(at, [...(byPlace.get(at) ?? []), p]);
  }
  const errorsAt = (place: string) => byPlace.get(place) ?? [];
  const ctx: FormContext = {
    errorsAt,
    erred: (prefix) => [...byPlace.keys()].some((at) => at.startsWith(prefix)),
    choices,
    ask,
  };

  const send = async (dryRun: boolean) => {
    setBusy(true);
    setErrors([]);
    setRefusal(null);
    try {
      const { patch, removed } = edit();
      const query = `?${dryRun ? "dry-run=true" : waitApplied}`;
      const ifMatch = etag ? { "if-match": etag } : {};
      // removals are deletes of the nested entries: one transaction with the patch
      const a = await (removed.length === 0
        ? call<{ changes?: Change[] } & Partial<Applied>>("PATCH", path + query, { body: patch, headers: etag ? { "If-Match": etag } : {} })
        : call<{ changes?: Change[] } & Partial<Applied>>("POST", `/transactions${query}`, {
            body: { edits: [{ op: "patch", path, value: patch, ...ifMatch }, ...removed.map((p) => ({ op: "delete", path: p }))] },
          }));
      if (dryRun) setPreview(a.body.changes ?? []);
      else onDone({ committed: a.headers.get("X-AMP-Transaction-Index") ?? "", applied: a.body as Applied });
    } catch (e) {
      setPreview(null);
      // each problem at its field; the rest (and any other refusal) above the form
      const unplaced = e instanceof APIError ? e.problems.filter((p) => !placeOf(places, path, p.path)) : [];
      setErrors(e instanceof APIError ? e.problems.filter((p) => placeOf(places, path, p.path)) : []);
      if (!(e instanceof APIError) || unplaced.length > 0 || e.problems.length === 0) setRefusal(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      id="edit"
      class="edit"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void send(true);
      }}
    >
      {refusal !== null && <Refusal error={refusal} />}
      {form.fields.map((f) => (
        <div class={`field${errorsAt(f.rel).length ? " invalid" : ""}`} data-field={f.rel}>
          <label for={`f-${f.rel}`}>
            {f.rel}
            {f.mandatory && <span class="mandatory" title="mandatory"> *</span>}
          </label>
          <Input f={f} value={entry.values[f.rel] ?? ""} choices={choices[`${path}/${f.rel}/values`]} onInput={(v) => change({ ...entry, values: { ...entry.values, [f.rel]: v } })} />
          <span class="hint">{hint(f.schema)}</span>
          <Errors problems={errorsAt(f.rel)} />
        </div>
      ))}
      {form.lists.map((l) => (
        <ListEditor
          l={l}
          rows={entry.lists[l.rel] ?? []}
          onRows={(rs) => change({ ...entry, lists: { ...entry.lists, [l.rel]: rs } })}
          prefix=""
          owner={path}
          ctx={ctx}
        />
      ))}
      <div class="actions">
        <button type="submit" id="dry-run" disabled={busy}>
          Check (dry run)
        </button>
        <button
          type="button"
          id="stage"
          disabled={busy}
          title="Stage this edit; commit it with edits of other objects as one transaction from the basket"
          onClick={() => {
            const { patch, removed } = edit();
            if (Object.keys(patch).length === 0 && removed.length === 0) return setRefusal("nothing changed: there is nothing to add to the basket");
            basket.stage(path, patch, etag, data, removed, (a, b) => mergePatch(form, a, b));
            onDone({ staged: true });
          }}
        >
          Add to basket
        </button>
        <button type="button" id="cancel" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
      {preview && (
        <div id="preview">
          <h3>The server would change</h3>
          <Changes changes={preview} />
          <button type="button" id="commit" disabled={busy || preview.length === 0} onClick={() => void send(false)}>
            Commit
          </button>
        </div>
      )}
    </form>
  );
}

/**
 * Whether the server lets the caller write path: the policy's answer
 * through GET /whoami?path=, which asks without attempting a write. A
 * read-only caller (an enterprise member) gets no edit controls.
 */
export async function mayWrite(path: string): Promise<boolean> {
  const a = await call<{ access: { path: string; write: boolean }[] }>("GET", `/whoami?path=${encodeURIComponent(path)}`);
  return a.body?.access?.[0]?.write === true;
}
