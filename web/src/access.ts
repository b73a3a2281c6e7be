// What the caller may do beyond model paths, asked of the server once per
// session (GET /whoami?path=…, which decides as the policy would without
// attempting anything): whether it may roll transactions back and whether
// it sees the operators' views. Views follow the answer; the server still
// judges every call.
import { get } from "./api";
import { session } from "./session";

/** The routes asked about, and what each answer gates. */
export const rollbackPath = "/transactions";
export const clustersPath = "/clusters/status";

interface Whoami {
  name: string;
  access: { path: string; read: boolean; write: boolean }[];
}

export interface Access {
  name: string;
  rollback: boolean; // write on /transactions: POST /transactions/{index}/rollback
  ops: boolean; // read on /clusters/status: the clusters' links
}

let loaded: Promise<Access> | null = null;

export function access(): Promise<Access> {
  loaded ??= get<Whoami>(`/whoami?path=${encodeURIComponent(rollbackPath)}&path=${encodeURIComponent(clustersPath)}`).then(
    ({ body }) => ({
      name: body.name,
      rollback: body.access.find((a) => a.path === rollbackPath)?.write === true,
      ops: body.access.find((a) => a.path === clustersPath)?.read === true,
    }),
    (e: unknown) => {
      loaded = null;
      throw e;
    },
  );
  return loaded;
}

/**
 * Whether the caller may roll back a transaction that changed these paths:
 * an operator may roll back any; an enterprise's admin one whose every
 * changed path it may write (as the server decides the rollback).
 */
export async function mayRollBack(paths: string[]): Promise<boolean> {
  if ((await access()).rollback) return true;
  const unique = [...new Set(paths)].slice(0, 50); // GET /whoami answers 50 paths at most
  if (unique.length === 0 || unique.length < new Set(paths).size) return false;
  const q = unique.map((p) => `path=${encodeURIComponent(p)}`).join("&");
  const { body } = await get<Whoami>(`/whoami?${q}`);
  return unique.every((p) => body.access.find((a) => a.path === p)?.write === true);
}

export function forgetAccess(): void {
  loaded = null;
}

// Another credential may have other rights: every sign-in or sign-out asks again.
session.subscribe(forgetAccess);
