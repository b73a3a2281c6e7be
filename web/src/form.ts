// The shape of an entry's generated form and what an edit of it sends,
// read from the schema tree (which nodes are configuration, which leaves
// are keys) and the OpenAPI schema (types, ranges, patterns, defaults,
// mandatory, enumerations). Recursive: an entry's lists (also those inside
// its containers) hold entries with forms of their own, whose lists hold
// entries again (a site's devices' interfaces), to any depth, so no model
// needs portal code of its own.
import { merge } from "./basket";
import type { Node } from "./models";
import { deref, type Schema } from "./spec";

export type Obj = Record<string, unknown>;
type Doc = Parameters<typeof deref>[0];

export interface Field {
  rel: string; // path below the entry: mbr/uplink
  node: Node;
  schema: Schema;
  mandatory: boolean;
  list: boolean; // a leaf-list: comma-separated
}

/** The form of an entry: its configuration leaves and lists, both also inside its containers. */
export interface Form {
  fields: Field[];
  lists: NestedList[];
}

/** A configuration list below an entry: its entries are rows, each with the form of one entry (keys first). */
export interface NestedList {
  rel: string; // path below the entry holding it: device, or a container's list: selector/match-label
  node: Node;
  form: Form;
}

/** The configuration leaves below node; keys at the entry's level only when withKeys (a nested entry's keys name it). */
function fields(node: Node, schema: Schema, doc: Doc, prefix: string, withKeys: boolean): Field[] {
  const keys = prefix === "" && !withKeys ? (node.keys ?? []) : [];
  return (node.children ?? []).flatMap((c) => {
    if (c.state || keys.includes(c.name)) return [];
    const s = deref(doc, schema.properties?.[c.name]);
    if (!s) return [];
    const rel = prefix + c.name;
    if (c.kind === "container") return fields(c, s, doc, rel + "/", withKeys);
    if (c.kind === "leaf") return [{ rel, node: c, schema: s, mandatory: (schema.required ?? []).includes(c.name), list: false }];
    if (c.kind === "leaf-list") return [{ rel, node: c, schema: deref(doc, s.items) ?? {}, mandatory: false, list: true }];
    return [];
  });
}

function lists(node: Node, schema: Schema, doc: Doc, prefix: string): NestedList[] {
  return (node.children ?? []).flatMap((c) => {
    const s = deref(doc, schema.properties?.[c.name]);
    if (c.state || !s) return [];
    if (c.kind === "container") return lists(c, s, doc, prefix + c.name + "/");
    if (c.kind !== "list") return [];
    return [{ rel: prefix + c.name, node: c, form: formOf(c, deref(doc, s.items) ?? {}, doc, true) }];
  });
}

/** The form of an entry of node (a list): the entry's own keys with it when it is a row of a nested list. */
export function formOf(node: Node, schema: Schema, doc: Doc, withKeys = false): Form {
  const fs = fields(node, schema, doc, "", withKeys);
  const keys = withKeys ? (node.keys ?? []) : [];
  return {
    fields: [...keys.flatMap((k) => fs.filter((f) => f.rel === k)), ...fs.filter((f) => !keys.includes(f.rel))],
    lists: lists(node, schema, doc, ""),
  };
}

/** An entry in the form: the entry edited (its orig as read, null when added), a nested list's row at any depth. */
export interface Row {
  id: number; // stable across renders
  orig: Obj | null;
  values: Record<string, string>; // by field rel, as typed
  lists: Record<string, Row[]>; // by list rel
}

let rowIds = 0;

/** The row of an entry as read (orig), or of a new one (null). */
export function rowOf(form: Form, orig: Obj | null): Row {
  const data = orig ?? {};
  return {
    id: ++rowIds,
    orig,
    values: Object.fromEntries(form.fields.map((f) => [f.rel, shown(at(data, f.rel))])),
    lists: Object.fromEntries(form.lists.map((l) => [l.rel, entriesAt(data, l.rel).map((e) => rowOf(l.form, e))])),
  };
}

export const keyOf = (l: NestedList, o: Obj) => (l.node.keys ?? []).map((k) => shown(o[k]));

/** The path of a nested list's entry below the entry holding it: filter/acme-video. */
export const rowPath = (l: NestedList, keys: string[]) => `${l.rel}/${keys.map(encodeURIComponent).join("/")}`;

export const at = (data: Obj, rel: string): unknown =>
  rel.split("/").reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Obj)[k] : undefined), data);

const entriesAt = (data: Obj, rel: string) => (at(data, rel) as Obj[] | undefined) ?? [];

function setAt(o: Obj, rel: string, v: unknown): void {
  const parts = rel.split("/");
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Obj;
  o[parts[parts.length - 1]!] = v;
}

export const shown = (v: unknown): string => (v === undefined || v === null ? "" : Array.isArray(v) ? v.join(", ") : String(v));

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

/** The merge patch (RFC 7386) of the leaves that changed: a cleared field is null (removed). */
function patchOf(fs: Field[], data: Obj, values: Record<string, string>): Obj {
  const patch: Obj = {};
  for (const f of fs) {
    const text = values[f.rel] ?? "";
    if (text === shown(at(data, f.rel))) continue;
    setAt(patch, f.rel, text === "" ? null : typed(f, text));
  }
  return patch;
}

/**
 * What an edit of row sends: a merge patch of what changed, the rows of
 * its lists in it as those lists' entries (a changed entry: its keys and
 * what changed in it and below it; a new one, or one whose key changed:
 * everything typed, its own rows too), and the paths (below the entry
 * edited, prefix at) of the entries removed or renamed, at any depth, to
 * delete in the same transaction (after the patch). A row given the key
 * of a stored entry no other row keeps (removed, then added again) is
 * that entry changed to what the row holds, not a new entry deleted by
 * its own removal. base is the entry as read; fresh: it is created, so
 * nothing below it is stored.
 */
export function editOf(form: Form, row: Row, base: Obj, prefix = "", fresh = false): { patch: Obj; removed: string[] } {
  const patch = patchOf(form.fields, base, row.values);
  const removed: string[] = [];
  for (const l of form.lists) {
    const rows = row.lists[l.rel] ?? [];
    const key = (o: Obj) => keyOf(l, o).join("/");
    const stored = new Map(fresh ? [] : entriesAt(base, l.rel).map((e) => [key(e), e] as const));
    const keeps = (r: Row) => r.orig !== null && key(r.orig) === key(r.values) && stored.has(key(r.values));
    // the stored entries the rows stand for: each kept under its key, then one a row took the key of
    const claimed = new Set(rows.filter(keeps).map((r) => key(r.values)));
    const entries: Obj[] = [];
    for (const r of rows) {
      const k = key(r.values);
      const takes = !keeps(r) && stored.has(k) && !claimed.has(k);
      if (takes) claimed.add(k);
      const was = keeps(r) || takes ? stored.get(k) : undefined;
      const sub = editOf(l.form, r, was ?? {}, `${prefix}${rowPath(l, keyOf(l, r.values))}/`, was === undefined);
      removed.push(...sub.removed);
      if (Object.keys(sub.patch).length === 0) continue;
      for (const n of l.node.keys ?? []) sub.patch[n] = typed(l.form.fields.find((f) => f.rel === n)!, r.values[n] ?? "");
      entries.push(sub.patch);
    }
    for (const [k, e] of stored) if (!claimed.has(k)) removed.push(prefix + rowPath(l, keyOf(l, e)));
    if (entries.length > 0) setAt(patch, l.rel, entries);
  }
  return { patch, removed };
}

/** Where a server error may be shown: each field, each row (at any depth) and each of its fields, as paths below the entry. */
export function placesOf(form: Form, row: Row, prefix = ""): string[] {
  return [
    ...form.fields.map((f) => prefix + f.rel),
    ...form.lists.flatMap((l) =>
      (row.lists[l.rel] ?? []).flatMap((r) => {
        const rp = prefix + rowPath(l, keyOf(l, r.values));
        return [rp, ...placesOf(l.form, r, rp + "/")];
      }),
    ),
  ];
}

/** The place (a path below the entry) an error path names: the longest one it ends with. */
export function placeOf(places: string[], entry: string, errPath: string): string | undefined {
  const rel = errPath.startsWith(entry + "/") ? errPath.slice(entry.length + 1) : errPath;
  return places.filter((r) => rel === r || rel.endsWith("/" + r)).sort((a, b) => b.length - a.length)[0];
}

/**
 * Merges patch b over patch a, both of an entry of form (a second edit of
 * an object staged in the basket joins the first): leaves as RFC 7386
 * does, and a list's entries by their keys, each merged likewise at any
 * depth, where RFC 7386 would replace the first edit's entries with the
 * second's.
 */
export function mergePatch(form: Form, a: Obj, b: Obj): Obj {
  const out = structuredClone(merge(a, b));
  for (const l of form.lists) {
    const mine = entriesAt(a, l.rel);
    const theirs = entriesAt(b, l.rel);
    if (mine.length === 0 || theirs.length === 0) continue;
    const joined = [...mine];
    for (const e of theirs) {
      const i = joined.findIndex((x) => keyOf(l, x).join("/") === keyOf(l, e).join("/"));
      if (i >= 0) joined[i] = mergePatch(l.form, joined[i]!, e);
      else joined.push(e);
    }
    setAt(out, l.rel, joined);
  }
  return out;
}
