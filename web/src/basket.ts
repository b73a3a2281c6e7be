// The basket: edits of several objects (of any model sets and, for an
// operator, any enterprises) staged in the page's memory, checked by the
// server as a dry run and committed as ONE transaction (POST
// /transactions, docs/api.md), or discarded. Each edit keeps the ETag of
// the object it was made on, sent as that edit's If-Match: a change made
// meanwhile refuses the whole transaction (412 naming the object), and
// rebasing the edit reads the object again and keeps the staged change.
//
// The basket lives in memory like the credential, but apart from it: a
// refused or expired token signs the user out and keeps the basket, so
// signing in again finds it; only an explicit sign-out empties it.
import { useEffect, useState } from "preact/hooks";
import { call } from "./api";

type Obj = Record<string, unknown>;

export interface StagedEdit {
  path: string; // the object's REST path
  op: "patch";
  value: Obj; // a JSON merge patch (RFC 7386) of the object
  etag: string; // the object's ETag when the edit was made ("" : none)
  base: Obj; // the object as it was read then, to tell what moved under a rebase
  removes: string[]; // entries of its nested lists removed (a device group's device): deleted in the same transaction
}

/** One leaf-level change the server answers (dry run, transaction). */
export interface Change {
  path: string;
  op: string;
  old?: unknown;
  new?: unknown;
}

/** A write answered with ?wait=applied: the backends' verdict and their objects. */
export interface Applied {
  id: string;
  index: number;
  sync: string; // in-sync, degraded, error, pending (the wait ran out)
  objects: SyncObject[];
}

/** One object an adapter derives from configuration (GET /sync-status). */
export interface SyncObject {
  adapter: string;
  id: string;
  backend?: string;
  sources?: string[];
  status: string;
  "applied-index"?: number;
  "wanted-index"?: number;
  message?: string;
  attempts?: number;
  "last-attempt"?: string;
}

let edits: StagedEdit[] = [];
const listeners = new Set<() => void>();
const notify = () => {
  for (const l of listeners) l();
};

/** Merges patch b over a (RFC 7386): a later edit of the same object refines the earlier one. */
export function merge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const old = out[k];
    out[k] = v && typeof v === "object" && !Array.isArray(v) && old && typeof old === "object" && !Array.isArray(old) ? merge(old as Obj, v as Obj) : v;
  }
  return out;
}

export const basket = {
  get edits(): readonly StagedEdit[] {
    return edits;
  },
  /**
   * Stages a merge patch of the object at path, read at etag, and removals
   * of entries of its nested lists; a second edit of the same object joins
   * the first (join: how its patch merges over the first's; the form's
   * knows the lists' keys).
   */
  stage(path: string, value: Obj, etag: string, base: Obj, removes: string[] = [], join: (a: Obj, b: Obj) => Obj = merge): void {
    const i = edits.findIndex((e) => e.path === path);
    if (i >= 0) {
      const prev = edits[i]!;
      edits = edits.map((e, j) => (j === i ? { ...prev, value: join(prev.value, value), removes: [...new Set([...prev.removes, ...removes])] } : e));
    } else {
      edits = [...edits, { path, op: "patch", value, etag, base, removes }];
    }
    notify();
  },
  remove(path: string): void {
    edits = edits.filter((e) => e.path !== path);
    notify();
  },
  clear(): void {
    edits = [];
    notify();
  },
  /** Reads the object again and keeps the staged change over it: the edit's If-Match becomes the new ETag. */
  async rebase(path: string): Promise<void> {
    const a = await call<Obj>("GET", path);
    edits = edits.map((e) => (e.path === path ? { ...e, etag: a.headers.get("ETag") ?? "", base: a.body } : e));
    notify();
  },
  /** The body of POST /transactions. */
  body(): { edits: { op: string; path: string; value?: Obj; "if-match"?: string }[] } {
    return {
      edits: edits.flatMap((e) => [
        { op: e.op, path: e.path, value: e.value, ...(e.etag ? { "if-match": e.etag } : {}) },
        ...e.removes.map((path) => ({ op: "delete", path })),
      ]),
    };
  },
  subscribe(l: () => void): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
};

/** Re-renders the caller whenever the basket changes. */
export function useBasket(): readonly StagedEdit[] {
  const [, tick] = useState(0);
  useEffect(() => basket.subscribe(() => tick((n) => n + 1)), []);
  return basket.edits;
}

/** The staged edit an error path falls in (the longest object path it starts with). */
export function editOf(errPath: string): StagedEdit | undefined {
  return [...edits].sort((a, b) => b.path.length - a.path.length).find((e) => errPath === e.path || errPath.startsWith(e.path + "/"));
}
