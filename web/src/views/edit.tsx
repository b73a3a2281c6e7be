// The form of one entry, generated from the tree (which leaves are
// configuration, which are keys) and the OpenAPI schema (types, ranges,
// patterns, defaults, mandatory, enumerations; references offer the
// server's …/values). The server stays the only judge: the form sends what
// the user typed, a dry run first (PATCH ?dry-run=true, its changes shown),
// then the commit, both with If-Match; every error is shown at the field
// its path names, the rest above the form. The commit waits for the
// backends (?wait=applied) and says what they did. Instead of committing,
// the edit may be added to the basket (basket.ts), to be committed with
// edits of other objects as one transaction.
import { useEffect, useState } from "preact/hooks";
import { APIError, call, type Problem } from "../api";
import type { Node } from "../models";
import { Refusal } from "../load";
import { basket, type Applied, type Change } from "../basket";
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

/** The configuration leaves below node (keys excluded: they name the entry). */
function fields(node: Node, schema: Schema, doc: Parameters<typeof deref>[0], prefix = ""): Field[] {
  const keys = prefix === "" ? (node.keys ?? []) : [];
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
  const [form, setForm] = useState<{ fs: Field[] } | { error: unknown } | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
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
        setValues(Object.fromEntries(fs.map((f) => [f.rel, shown(at(data, f.rel))])));
        setForm({ fs });
        for (const f of fs.filter((f) => isReference(f.schema))) {
          call<{ values: unknown[] }>("GET", `${path}/${f.rel}/values`).then(
            (a) => setChoices((c) => ({ ...c, [f.rel]: a.body.values.map(String) })),
            () => undefined, // no choices offered: the field stays free text
          );
        }
      },
      (error: unknown) => setForm({ error }),
    );
  }, [path]);

  if (form === null) return <p class="loading">Loading the schema…</p>;
  if ("error" in form) return <Refusal error={form.error} />;
  const fs = form.fs;

  const send = async (dryRun: boolean) => {
    setBusy(true);
    setErrors([]);
    setRefusal(null);
    try {
      const a = await call<{ changes?: Change[] } & Partial<Applied>>("PATCH", `${path}?${dryRun ? "dry-run=true" : waitApplied}`, {
        body: patchOf(fs, data, values),
        headers: etag ? { "If-Match": etag } : {},
      });
      if (dryRun) setPreview(a.body.changes ?? []);
      else onDone({ committed: a.headers.get("X-AMP-Transaction-Index") ?? "", applied: a.body as Applied });
    } catch (e) {
      setPreview(null);
      // each problem at its field; the rest (and any other refusal) above the form
      const unplaced = e instanceof APIError ? e.problems.filter((p) => !fieldOf(fs, path, p.path)) : [];
      setErrors(e instanceof APIError ? e.problems.filter((p) => fieldOf(fs, path, p.path)) : []);
      if (!(e instanceof APIError) || unplaced.length > 0 || e.problems.length === 0) setRefusal(e);
    } finally {
      setBusy(false);
    }
  };
  const errorAt = (rel: string) => errors.filter((p) => fieldOf(fs, path, p.path) === rel);

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
            const patch = patchOf(fs, data, values);
            if (Object.keys(patch).length === 0) return setRefusal("nothing changed: there is nothing to add to the basket");
            basket.stage(path, patch, etag, data);
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

/** The field an error path names: the longest field path it ends with. */
function fieldOf(fs: Field[], entry: string, errPath: string): string | undefined {
  const rel = errPath.startsWith(entry + "/") ? errPath.slice(entry.length + 1) : errPath;
  return fs
    .map((f) => f.rel)
    .filter((r) => rel === r || rel.endsWith("/" + r))
    .sort((a, b) => b.length - a.length)[0];
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

function Input({ f, value, choices, onInput }: { f: Field; value: string; choices?: string[]; onInput: (v: string) => void }) {
  const id = `f-${f.rel}`;
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
