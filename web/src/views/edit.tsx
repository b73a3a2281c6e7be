// The form of one entry, generated from the tree (which leaves are
// configuration, which are keys) and the OpenAPI schema (types, ranges,
// patterns, defaults, mandatory, enumerations; references offer the
// server's …/values). The server stays the only judge: the form sends what
// the user typed, a dry run first (PATCH ?dry-run=true, its changes shown),
// then the commit, both with If-Match; every error is shown at the field
// its path names, the rest above the form. The commit waits for the
// backends (?wait=applied) and says what they did. Instead of committing,
// the edit may be added to the basket (basket.ts), to be committed with
// edits of other objects as one transaction. Lists within the entry (a
// device group's devices, a slice's filters) are edited in place, one row
// per entry: rows added or changed go in the merge patch as that list's
// entries, rows removed as deletes of those entries in the same
// transaction (POST /transactions), their errors shown at their fields.
import { useEffect, useState } from "preact/hooks";
import { APIError, call, type Problem } from "../api";
import type { Node } from "../models";
import { Refusal } from "../load";
import { basket, merge, type Applied, type Change } from "../basket";
import { Changes } from "./parts";
import { deref, isReference, schemaOf, type Schema } from "../spec";

type Obj = Record<string, unknown>;

interface Field {
  rel: string; // path below the entry: mbr/uplink
  node: Node;
  schema: Schema;
  mandatory: boolean;
  list: boolean; // a leaf-list: comma-separated
}

type Doc = Parameters<typeof deref>[0];

/** The configuration leaves below node (keys excluded but for a nested list's entry: they name the entry). */
function fields(node: Node, schema: Schema, doc: Doc, prefix = "", withKeys = false): Field[] {
  const keys = prefix === "" && !withKeys ? (node.keys ?? []) : [];
  return (node.children ?? []).flatMap((c) => {
    if (c.state || keys.includes(c.name)) return [];
    const s = deref(doc, schema.properties?.[c.name]);
    if (!s) return [];
    const rel = prefix + c.name;
    if (c.kind === "container") return fields(c, s, doc, rel + "/");
    if (c.kind === "leaf") return [{ rel, node: c, schema: s, mandatory: (schema.required ?? []).includes(c.name), list: false }];
    if (c.kind === "leaf-list") return [{ rel, node: c, schema: deref(doc, s.items) ?? {}, mandatory: false, list: true }];
    return [];
  });
}

/** A configuration list within the entry (or its containers), edited row by row; its own lists are not. */
interface NestedList {
  rel: string; // path below the entry: device
  node: Node;
  fields: Field[]; // of one entry, keys first
}

function nestedLists(node: Node, schema: Schema, doc: Doc, prefix = ""): NestedList[] {
  return (node.children ?? []).flatMap((c) => {
    const s = deref(doc, schema.properties?.[c.name]);
    if (c.state || !s) return [];
    if (c.kind === "container") return nestedLists(c, s, doc, prefix + c.name + "/");
    if (c.kind !== "list") return [];
    const item = deref(doc, s.items) ?? {};
    const fs = fields(c, item, doc, "", true);
    const keys = c.keys ?? [];
    return [{ rel: prefix + c.name, node: c, fields: [...keys.flatMap((k) => fs.filter((f) => f.rel === k)), ...fs.filter((f) => !keys.includes(f.rel))] }];
  });
}

/** One entry of a nested list in the form: as read (orig, its data) or added (orig null). */
interface Row {
  id: number; // stable across renders
  orig: Obj | null;
  values: Record<string, string>;
}

const keyOf = (l: NestedList, o: Record<string, unknown>) => (l.node.keys ?? []).map((k) => shown(o[k]));
const rowPath = (l: NestedList, keys: string[]) => `${l.rel}/${keys.map(encodeURIComponent).join("/")}`;

let rowIds = 0;
function rowsOf(lists: NestedList[], data: Obj): Record<string, Row[]> {
  return Object.fromEntries(
    lists.map((l) => {
      const entries = (at(data, l.rel) as Obj[] | undefined) ?? [];
      return [l.rel, entries.map((e) => ({ id: ++rowIds, orig: e, values: Object.fromEntries(l.fields.map((f) => [f.rel, shown(at(e, f.rel))])) }))];
    }),
  );
}

/**
 * The nested lists' part of the edit: each row added or changed as an
 * entry of the merge patch (a changed entry: its keys and what changed; a
 * new one, or one whose key changed: everything typed), and the paths
 * (below the entry) of the entries removed, or renamed, to delete.
 */
function nestedEdits(lists: NestedList[], data: Obj, rows: Record<string, Row[]>): { patch: Obj; removed: string[] } {
  const patch: Obj = {};
  const removed: string[] = [];
  for (const l of lists) {
    const mine = rows[l.rel] ?? [];
    const entries: Obj[] = [];
    for (const r of mine) {
      const keys = keyOf(l, r.values);
      const same = r.orig !== null && keyOf(l, r.orig).join("/") === keys.join("/");
      const e = patchOf(l.fields, same ? r.orig! : {}, r.values);
      if (Object.keys(e).length === 0) continue;
      for (const k of l.node.keys ?? []) e[k] = typed(l.fields.find((f) => f.rel === k)!, r.values[k] ?? "");
      entries.push(e);
    }
    const kept = new Set(mine.filter((r) => r.orig !== null).map((r) => keyOf(l, r.values).join("/")));
    for (const e of (at(data, l.rel) as Obj[] | undefined) ?? []) {
      if (!kept.has(keyOf(l, e).join("/"))) removed.push(rowPath(l, keyOf(l, e)));
    }
    if (entries.length === 0) continue;
    const parts = l.rel.split("/");
    let o = patch;
    for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Obj;
    o[parts[parts.length - 1]!] = entries;
  }
  return { patch, removed };
}

const at = (data: Obj, rel: string): unknown =>
  rel.split("/").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), data);

const shown = (v: unknown): string => (v === undefined || v === null ? "" : Array.isArray(v) ? v.join(", ") : String(v));

/** What the user typed, as JSON: numbers and booleans where they parse, else the text (the server says why not). */
function typed(f: Field, text: string): unknown {
  const one = (t: string): unknown => {
    if ((f.schema.type === "integer" || f.schema.type === "number") && /^-?\d+(\.\d+)?$/.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
    if (f.schema.type === "boolean" && (t === "true" || t === "false")) return t === "true";
    return t;
  };
  if (f.list) return text.split(",").map((t) => one(t.trim())).filter((t) => t !== "");
  return one(text);
}

/** The merge patch (RFC 7386) of what changed: a cleared field is null (removed). */
function patchOf(fs: Field[], data: Obj, values: Record<string, string>): Obj {
  const patch: Obj = {};
  for (const f of fs) {
    const text = values[f.rel] ?? "";
    if (text === shown(at(data, f.rel))) continue;
    const parts = f.rel.split("/");
    let o = patch;
    for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Obj;
    o[parts[parts.length - 1]!] = text === "" ? null : typed(f, text);
  }
  return patch;
}

/** How an edit ended: committed (with the backends' verdict), staged in the basket, or cancelled (undefined). */
export type Outcome = { committed: string; applied?: Applied } | { staged: true };

/** How long a commit waits for the backends before answering "pending" (the change stays committed). */
export const waitApplied = "wait=applied&wait-timeout=15s";

export function EditForm({ node, path, data, etag, onDone }: { node: Node; path: string; data: Obj; etag: string; onDone: (o?: Outcome) => void }) {
  const [form, setForm] = useState<{ fs: Field[]; lists: NestedList[] } | { error: unknown } | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [rows, setRows] = useState<Record<string, Row[]>>({});
  const [choices, setChoices] = useState<Record<string, string[]>>({});
  const [errors, setErrors] = useState<Problem[]>([]);
  const [refusal, setRefusal] = useState<unknown>(null);
  const [preview, setPreview] = useState<Change[] | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    schemaOf(path).then(
      (r) => {
        if (!r) return setForm({ error: `the OpenAPI document has no schema for ${path}` });
        const fs = fields(node, r.schema, r.doc);
        const lists = nestedLists(node, r.schema, r.doc);
        setValues(Object.fromEntries(fs.map((f) => [f.rel, shown(at(data, f.rel))])));
        setRows(rowsOf(lists, data));
        setForm({ fs, lists });
        // a nested entry's choices are asked of an entry that need not exist
        const refs = [...fs.map((f) => [f.rel, `${path}/${f.rel}`]), ...lists.flatMap((l) => l.fields.map((f) => [`${l.rel}/${f.rel}`, `${path}/${rowPath(l, keyOf(l, {}).map(() => "new"))}/${f.rel}`]))];
        for (const [rel, at] of refs.filter(([rel]) => isReference(fieldByRel(fs, lists, rel!)!.schema))) {
          call<{ values: unknown[] }>("GET", `${at}/values`).then(
            (a) => setChoices((c) => ({ ...c, [rel!]: a.body.values.map(String) })),
            () => undefined, // no choices offered: the field stays free text
          );
        }
      },
      (error: unknown) => setForm({ error }),
    );
  }, [path]);

  if (form === null) return <p class="loading">Loading the schema…</p>;
  if ("error" in form) return <Refusal error={form.error} />;
  const { fs, lists } = form;
  // the whole edit: the entry's merge patch (its nested lists' rows in it) and the nested entries removed
  const edit = () => {
    const nested = nestedEdits(lists, data, rows);
    return { patch: merge(patchOf(fs, data, values), nested.patch), removed: nested.removed.map((rel) => `${path}/${rel}`) };
  };
  // where a server error may be shown: each field, each nested entry's fields and the entry itself
  const places = [
    ...fs.map((f) => f.rel),
    ...lists.flatMap((l) => (rows[l.rel] ?? []).flatMap((r) => [rowPath(l, keyOf(l, r.values)), ...l.fields.map((f) => `${rowPath(l, keyOf(l, r.values))}/${f.rel}`)])),
  ];

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
      const unplaced = e instanceof APIError ? e.problems.filter((p) => !fieldOf(places, path, p.path)) : [];
      setErrors(e instanceof APIError ? e.problems.filter((p) => fieldOf(places, path, p.path)) : []);
      if (!(e instanceof APIError) || unplaced.length > 0 || e.problems.length === 0) setRefusal(e);
    } finally {
      setBusy(false);
    }
  };
  const errorAt = (rel: string) => errors.filter((p) => fieldOf(places, path, p.path) === rel);
  const setRow = (l: NestedList, rs: Row[]) => {
    setRows({ ...rows, [l.rel]: rs });
    setPreview(null);
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
      {fs.map((f) => (
        <div class={`field${errorAt(f.rel).length ? " invalid" : ""}`} data-field={f.rel}>
          <label for={`f-${f.rel}`}>
            {f.rel}
            {f.mandatory && <span class="mandatory" title="mandatory"> *</span>}
          </label>
          <Input
            f={f}
            value={values[f.rel] ?? ""}
            choices={choices[f.rel]}
            onInput={(v) => {
              setValues({ ...values, [f.rel]: v });
              setPreview(null);
            }}
          />
          <span class="hint">{hint(f.schema)}</span>
          {errorAt(f.rel).map((p) => (
            <p class="field-error" role="alert">
              {p.reason}
            </p>
          ))}
        </div>
      ))}
      {lists.map((l) => (
        <fieldset class="nested" data-list={l.rel}>
          <legend>{l.rel}</legend>
          <table>
            <thead>
              <tr>
                {l.fields.map((f) => (
                  <th>
                    {f.rel}
                    {(f.mandatory || (l.node.keys ?? []).includes(f.rel)) && <span class="mandatory" title="mandatory"> *</span>}
                  </th>
                ))}
                <th />
              </tr>
            </thead>
            <tbody>
              {(rows[l.rel] ?? []).map((r) => {
                const rp = rowPath(l, keyOf(l, r.values));
                return (
                  <tr data-row={rp} class={errorAt(rp).length ? "invalid" : ""}>
                    {l.fields.map((f) => (
                      <td data-field={`${l.rel}/${f.rel}`} class={errorAt(`${rp}/${f.rel}`).length ? "invalid" : ""}>
                        <Input
                          f={f}
                          id={`f-${l.rel}-${r.id}-${f.rel}`}
                          value={r.values[f.rel] ?? ""}
                          choices={choices[`${l.rel}/${f.rel}`]}
                          onInput={(v) => setRow(l, (rows[l.rel] ?? []).map((x) => (x.id === r.id ? { ...x, values: { ...x.values, [f.rel]: v } } : x)))}
                        />
                        {errorAt(`${rp}/${f.rel}`).map((p) => (
                          <p class="field-error" role="alert">
                            {p.reason}
                          </p>
                        ))}
                      </td>
                    ))}
                    <td>
                      <button type="button" class="remove-row" onClick={() => setRow(l, (rows[l.rel] ?? []).filter((x) => x.id !== r.id))}>
                        Remove
                      </button>
                      {errorAt(rp).map((p) => (
                        <p class="field-error" role="alert">
                          {p.reason}
                        </p>
                      ))}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <button type="button" class="add-row" onClick={() => setRow(l, [...(rows[l.rel] ?? []), { id: ++rowIds, orig: null, values: {} }])}>
            Add {l.node.name}
          </button>
        </fieldset>
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
            basket.stage(path, patch, etag, data, removed);
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

/** The place (a field's path below the entry) an error path names: the longest one it ends with. */
function fieldOf(places: string[], entry: string, errPath: string): string | undefined {
  const rel = errPath.startsWith(entry + "/") ? errPath.slice(entry.length + 1) : errPath;
  return places.filter((r) => rel === r || rel.endsWith("/" + r)).sort((a, b) => b.length - a.length)[0];
}

function fieldByRel(fs: Field[], lists: NestedList[], rel: string): Field | undefined {
  return fs.find((f) => f.rel === rel) ?? lists.flatMap((l) => l.fields.filter((f) => `${l.rel}/${f.rel}` === rel))[0];
}

function hint(s: Schema): string {
  const h: string[] = [];
  if (s.type) h.push(s.format ?? s.type);
  if (s.minimum !== undefined || s.maximum !== undefined) h.push(`${s.minimum ?? ""}..${s.maximum ?? ""}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) h.push(`length ${s.minLength ?? 0}..${s.maxLength ?? ""}`);
  if (s.pattern) h.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) h.push(`default ${String(s.default)}`);
  return h.join(" · ");
}

function Input({ f, id = `f-${f.rel}`, value, choices, onInput }: { f: Field; id?: string; value: string; choices?: string[]; onInput: (v: string) => void }) {
  const change = (e: Event) => onInput((e.target as HTMLInputElement | HTMLSelectElement).value);
  const options = f.schema.enum?.map(String) ?? (f.schema.type === "boolean" ? ["true", "false"] : choices);
  if (options && !f.list) {
    const all = value && !options.includes(value) ? [value, ...options] : options;
    return (
      <select id={id} name={f.rel} value={value} onChange={change}>
        <option value="">{f.schema.default !== undefined ? `(default ${String(f.schema.default)})` : "(unset)"}</option>
        {all.map((o) => (
          <option value={o}>{o}</option>
        ))}
      </select>
    );
  }
  const numeric = f.schema.type === "integer" || f.schema.type === "number";
  return (
    <input
      id={id}
      name={f.rel}
      type="text"
      inputMode={numeric ? "numeric" : undefined}
      maxLength={f.schema.maxLength}
      placeholder={f.schema.default !== undefined ? String(f.schema.default) : f.list ? "a, b, c" : ""}
      value={value}
      onInput={change}
    />
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
