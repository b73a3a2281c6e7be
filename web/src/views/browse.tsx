// The generated views of any model set: a set's root (its lists), a list
// (server-side paging with limit/continue, the API's filter=leaf=value or
// leaf^=prefix, and its sort=leaf: a column header sorts by that leaf),
// and an entry (configuration and operational state apart). Everything
// shown comes from the schema tree of GET /models?tree=true and the REST
// path: no model is known by name. Refusals (another enterprise's objects,
// a set the caller may not read) show the server's reasons. With ?at=N
// every view reads the configuration as it was after transaction N (the
// API's ?at=), read-only. An entry shows where it is used and what it
// uses (GET /references) and what the backends made of it (GET
// /sync-status?path=).
import { useState } from "preact/hooks";
import { call } from "../api";
import { listsBelow, modelSets, resolve, type Node, type Resolved } from "../models";
import { Refusal, Show, useLoad } from "../load";
import { navigate, root } from "../router";
import { EditForm, mayWrite, type Outcome } from "./edit";
import { browseLink, Verdict } from "./parts";
import { SyncStatus, WhereUsed } from "./entrypanels";
import { MonitorButton } from "./monitor";

const pageSize = 50;
type Obj = Record<string, unknown>;

export function Browse({ path, query }: { path: string; query: URLSearchParams }) {
  const state = useLoad(() => modelSets().then((sets) => resolve(sets, path)), [path]);
  const at = query.get("at") ?? "";
  return (
    <Show state={state}>
      {(r) =>
        typeof r === "string" ? (
          <Refusal error={r} />
        ) : (
          <section>
            <Crumbs r={r} at={at} />
            {at && (
              <p class="at" id="at" role="status">
                The configuration as it was after transaction {at}, read-only.{" "}
                <a href={view(r.path)} id="at-now">
                  Now
                </a>
              </p>
            )}
            {r.node.kind === "root" ? (
              <Lists node={r.node} at={r.path} index={at} />
            ) : r.entry ? (
              <Entry r={r} path={r.path} at={at} key={r.path} />
            ) : (
              <List r={r} path={r.path} query={query} at={at} />
            )}
          </section>
        )
      }
    </Show>
  );
}

/** The view of a REST path, at an index when given. */
const view = browseLink;

/** A read's query: ?at= when the view is of the past. */
const atQuery = (index: string) => (index ? `?at=${index}` : "");

function Crumbs({ r, at }: { r: Resolved; at: string }) {
  return (
    <nav class="crumbs" id="crumbs">
      {r.crumbs.map((c) => (
        <a href={view(c.path, at)}>{c.label}</a>
      ))}
    </nav>
  );
}

/** The lists below a root or an entry, linked. */
function Lists({ node, at, index }: { node: Node; at: string; index: string }) {
  const lists = listsBelow(node);
  if (lists.length === 0) return null;
  return (
    <div class="lists">
      <h2>Lists</h2>
      <ul id="lists">
        {lists.map(([rel]) => (
          <li>
            <a href={view(`${at}/${rel}`, index)} data-list={rel}>
              {rel}
            </a>
          </li>
        ))}
      </ul>
    </div>
  );
}

const leaves = (n: Node) => (n.children ?? []).filter((c) => c.kind === "leaf" || c.kind === "leaf-list");

function text(v: unknown): string {
  if (v === undefined || v === null) return "";
  if (Array.isArray(v)) return v.map(text).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

/** One page of a list, as the server pages and filters it. */
function List({ r, path, query, at }: { r: Resolved; path: string; query: URLSearchParams; at: string }) {
  const filter = query.get("filter") ?? "";
  const sort = query.get("sort") ?? "";
  const cont = query.get("continue") ?? "";
  const state = useLoad(() => {
    const q = new URLSearchParams({ limit: String(pageSize) });
    if (filter) q.set("filter", filter);
    if (sort) q.set("sort", sort);
    if (cont) q.set("continue", cont);
    if (at) q.set("at", at);
    return call<Obj[]>("GET", `${path}?${q}`);
  }, [path, filter, sort, cont, at]);
  const keys = r.node.keys ?? [];
  const cols = [...keys, ...leaves(r.node).filter((l) => !keys.includes(l.name) && !l.state).map((l) => l.name)].slice(0, 6);
  // a new filter or order starts again at the first page
  const go = (q: { filter?: string; sort?: string; continue?: string }) => {
    const p = new URLSearchParams(Object.entries({ ...q, at }).filter(([, v]) => v) as [string, string][]);
    navigate(view(path) + (p.size ? `?${p}` : ""));
  };
  return (
    <div>
      <h1>{r.node.name}</h1>
      <FilterForm node={r.node} value={filter} onApply={(f) => go({ filter: f, sort })} />
      <Show state={state}>
        {(a) => {
          const next = a.headers.get("X-AMP-Continue");
          return (
            <>
              <table id="list" class="list">
                <thead>
                  <tr>
                    {cols.map((c) => (
                      <SortHeader col={c} sort={sort} onSort={(s) => go({ filter, sort: s })} />
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {a.body.map((e) => (
                    <tr>
                      {cols.map((c, i) =>
                        i === 0 ? (
                          <td>
                            <a href={view(`${path}/${keys.map((k) => encodeURIComponent(text(e[k]))).join("/")}`, at)}>{text(e[c])}</a>
                          </td>
                        ) : (
                          <td>{text(e[c])}</td>
                        ),
                      )}
                    </tr>
                  ))}
                </tbody>
              </table>
              <p class="pager">
                {a.body.length === 0 && <span id="empty">No entries{filter && " match the filter"}.</span>}
                {cont && (
                  <button type="button" onClick={() => go({ filter, sort })}>
                    First page
                  </button>
                )}
                {next && (
                  <button type="button" id="next-page" onClick={() => go({ filter, sort, continue: next })}>
                    Next page
                  </button>
                )}
              </p>
            </>
          );
        }}
      </Show>
    </div>
  );
}

/** A column's header: a click sorts the list by it (the API's sort=), a second click the other way. */
function SortHeader({ col, sort, onSort }: { col: string; sort: string; onSort: (s: string) => void }) {
  const dir = sort === col ? "ascending" : sort === `-${col}` ? "descending" : undefined;
  return (
    <th aria-sort={dir}>
      <button type="button" class="sort" data-sort={col} title={`Sort by ${col}`} onClick={() => onSort(dir === "ascending" ? `-${col}` : col)}>
        {col}
        {dir === "ascending" ? " ▲" : dir === "descending" ? " ▼" : ""}
      </button>
    </th>
  );
}

/** The API's filter over one of the list's leaves: leaf=value, or leaf^=prefix ("starts with"). */
function FilterForm({ node, value, onApply }: { node: Node; value: string; onApply: (f: string) => void }) {
  const eq = value.indexOf("=");
  const named = eq > 0 ? value.slice(0, eq) : "";
  const [leaf, setLeaf] = useState(named.replace(/\^$/, "") || (node.keys?.[0] ?? ""));
  const [op, setOp] = useState(named.endsWith("^") ? "^=" : "=");
  const [match, setMatch] = useState(eq > 0 ? value.slice(eq + 1) : "");
  return (
    <form
      class="filter"
      id="filter"
      onSubmit={(e) => {
        e.preventDefault();
        onApply(match ? `${leaf}${op}${match}` : "");
      }}
    >
      <select value={leaf} onChange={(e) => setLeaf((e.target as HTMLSelectElement).value)} aria-label="leaf">
        {leaves(node).map((l) => (
          <option value={l.name}>{l.name}</option>
        ))}
      </select>
      <select value={op} id="filter-op" onChange={(e) => setOp((e.target as HTMLSelectElement).value)} aria-label="match">
        <option value="=">=</option>
        <option value="^=">starts with</option>
      </select>
      <input value={match} aria-label="value" onInput={(e) => setMatch((e.target as HTMLInputElement).value)} />
      <button type="submit">Filter</button>
    </form>
  );
}

/** One entry: its configuration (with Edit when the server allows it), then its operational state, then its lists. */
function Entry({ r, path, at }: { r: Resolved; path: string; at: string }) {
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | undefined>(undefined);
  // the past is read-only: no write is asked about, none offered
  const state = useLoad(() => Promise.all([call<Obj>("GET", path + atQuery(at)), at ? false : mayWrite(path)]), [path, at, reload]);
  const done = (o?: Outcome) => {
    setOutcome(o);
    setEditing(false);
    setReload((n) => n + 1);
  };
  return (
    <div>
      <h1>
        {r.node.name} {r.crumbs[r.crumbs.length - 1]?.label}
      </h1>
      <Show state={state}>
        {([a, writable]) => (
          <>
            <h2>Configuration</h2>
            {editing ? (
              <EditForm node={r.node} path={path} data={a.body} etag={a.headers.get("ETag") ?? ""} onDone={done} />
            ) : (
              <>
                {outcome && "committed" in outcome && (
                  <div class="committed" id="committed" role="status">
                    <p>Committed as transaction {outcome.committed}.</p>
                    <Verdict applied={outcome.applied} />
                  </div>
                )}
                {outcome && "staged" in outcome && (
                  <p class="committed" id="staged-note" role="status">
                    Added to the <a href={`${root}basket`}>basket</a>: nothing is committed until the basket is.
                  </p>
                )}
                <Fields node={r.node} data={a.body} state={false} id="config" />
                {writable && (
                  <button
                    type="button"
                    id="edit-button"
                    onClick={() => {
                      setOutcome(undefined);
                      setEditing(true);
                    }}
                  >
                    Edit
                  </button>
                )}
              </>
            )}
            {!at && <MonitorButton path={path} />}
            <h2>Operational state</h2>
            <Fields node={r.node} data={a.body} state={true} id="state" />
            <Lists node={r.node} at={path} index={at} />
            {!at && <WhereUsed path={path} key={`w${reload}`} />}
            {!at && <SyncStatus path={path} key={`s${reload}`} />}
          </>
        )}
      </Show>
    </div>
  );
}

/** The leaves and containers of data that are (or are not) state, nested. */
function Fields({ node, data, state, id }: { node: Node; data: Obj; state: boolean; id: string }) {
  const rows = fieldRows(node, data, state, false);
  if (rows.length === 0) {
    return (
      <p id={id} class="note">
        none
      </p>
    );
  }
  return (
    <table class="fields" id={id}>
      <tbody>{rows}</tbody>
    </table>
  );
}

/** The rows of node's leaves in data, containers nested; inState: below a config-false node. */
function fieldRows(node: Node, data: Obj, state: boolean, inState: boolean): preact.JSX.Element[] {
  return (node.children ?? []).flatMap((c) => {
    const v = data[c.name];
    const isState = inState || !!c.state;
    if (v === undefined || c.kind === "list") return [];
    if (c.kind === "container") {
      const inner = fieldRows(c, v as Obj, state, isState);
      if (inner.length === 0) return [];
      return [
        <tr>
          <th>{c.name}</th>
          <td>
            <table class="fields">
              <tbody>{inner}</tbody>
            </table>
          </td>
        </tr>,
      ];
    }
    if (isState !== state) return [];
    return [
      <tr data-leaf={c.name}>
        <th>{c.name}</th>
        <td>{text(v)}</td>
      </tr>,
    ];
  });
}
