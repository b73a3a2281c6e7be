// The model sets the server has loaded (GET /models?tree=true), and how a
// REST path resolves against a set's tree: the portal knows no model by
// name, so a new set or field appears without portal work.
import { get } from "./api";

export interface Node {
  name: string;
  kind: "root" | "container" | "list" | "leaf" | "leaf-list";
  keys?: string[];
  state?: boolean;
  mandatory?: boolean;
  type?: string;
  children?: Node[];
}

export interface SetVersion {
  name: string;
  version: string;
  scope: "tenant" | "global";
  "rest-prefix": string;
  "migrated-to"?: string;
  tree?: Node;
}

export interface ModelSet {
  name: string;
  versions: SetVersion[];
}

let loaded: Promise<ModelSet[]> | null = null;

/** The loaded sets with their trees, read once per session. */
export function modelSets(): Promise<ModelSet[]> {
  loaded ??= get<ModelSet[]>("/models?tree=true").then(
    (a) => a.body,
    (e: unknown) => {
      loaded = null; // a refusal is not remembered: the next sign-in asks again
      throw e;
    },
  );
  return loaded;
}

export function forgetModelSets(): void {
  loaded = null;
}

/** The REST path of a set version's root: /aether/v2.1.x. */
export const restBase = (v: SetVersion) => `/${v["rest-prefix"]}/v${v.version}`;

/** Where a REST path lands in a set's tree. */
export interface Resolved {
  set: SetVersion;
  enterprise: string; // "" for a global set
  node: Node; // the root, a list (the path names the list) or an entry's list node
  entry: boolean; // the path names one entry of the list node
  base: string; // the REST path of the root (with the enterprise)
  path: string; // the REST path shown: the path itself, or the entry holding the leaf or container it names
  crumbs: { label: string; path: string }[];
}

/** Resolves /prefix/vVERSION[/enterprise]/list/key/…, or says why not; a leaf or container of an entry resolves to the entry. */
export function resolve(sets: ModelSet[], path: string): Resolved | string {
  const segs = path.split("/").filter((s) => s !== "");
  const set = sets.flatMap((s) => s.versions).find((v) => segs[0] === v["rest-prefix"] && segs[1] === `v${v.version}`);
  if (!set || !set.tree) return `no model set is served at /${segs.slice(0, 2).join("/")}`;
  let i = 2;
  let enterprise = "";
  let base = restBase(set);
  const crumbs = [{ label: `${set.name} ${set.version}`, path: base }];
  if (set.scope === "tenant") {
    enterprise = decodeURIComponent(segs[i++] ?? "");
    if (!enterprise) return `model set ${set.name} is per enterprise: choose one`;
    base += `/${encodeURIComponent(enterprise)}`;
    crumbs.push({ label: enterprise, path: base });
  }
  let node: Node = set.tree;
  let entry = false;
  let at = base;
  let held: { node: Node; at: string } | null = null; // the entry last named, holding what follows
  while (i < segs.length) {
    const name = segs[i++];
    const child: Node | undefined = node.children?.find((c) => c.name === name);
    if (child && held && (child.kind === "leaf" || child.kind === "leaf-list")) break; // a leaf: show its entry
    if (!child || child.kind === "leaf" || child.kind === "leaf-list") return `${at} has no list ${decodeURIComponent(name ?? "")}`;
    node = child;
    at += `/${name}`;
    if (child.kind === "container") continue; // a list inside a container: its path names both
    crumbs.push({ label: child.name, path: at });
    entry = false;
    held = null;
    const keys = child.keys ?? [];
    if (i + keys.length <= segs.length && keys.length > 0) {
      const vals = segs.slice(i, i + keys.length);
      i += keys.length;
      at += "/" + vals.join("/");
      crumbs.push({ label: vals.map(decodeURIComponent).join(" "), path: at });
      entry = true;
      held = { node: child, at };
    } else if (i < segs.length) {
      return `${at}: incomplete key`;
    }
  }
  if (held) return { set, enterprise, node: held.node, entry: true, base, path: held.at, crumbs };
  if (node.kind === "container") return `${at} is a container: its lists are below it`;
  return { set, enterprise, node, entry, base, path: at, crumbs };
}

/** The lists below node, through its containers: [relative path, list]. */
export function listsBelow(node: Node, prefix = ""): [string, Node][] {
  return (node.children ?? []).flatMap((c): [string, Node][] =>
    c.kind === "list" ? [[prefix + c.name, c]] : c.kind === "container" ? listsBelow(c, `${prefix}${c.name}/`) : [],
  );
}
