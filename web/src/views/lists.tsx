// A list below an entry in its generated form (form.ts), edited row by
// row: a field for each leaf of an entry (its keys first, marked *),
// Remove on each row, Add below. The lists of a row's entry (a device's
// interfaces) are edited the same way under the row, folded until opened
// or until the server names a place in them: the same component, to any
// depth. A reference offers the server's choices, asked of a new entry of
// the list below the entry holding it (its leafrefs evaluated from
// there); below an entry not stored yet, of a new entry of the list in a
// new entry, the server evaluating the leafref from the schema path with
// the stored ancestors as context (a new device's interface is offered
// its site's VLANs).
import { useEffect, useState } from "preact/hooks";
import type { Problem } from "../api";
import { keyOf, rowOf, rowPath, type NestedList, type Row } from "../form";
import { isReference } from "../spec";
import { Errors, Input } from "./inputs";

/** What the lists of one form share. */
export interface FormContext {
  errorsAt: (place: string) => Problem[]; // the server's errors at a place (a path below the entry)
  erred: (prefix: string) => boolean; // whether one names a place below prefix
  choices: Record<string, string[]>; // by the …/values path they were asked of
  ask: (values: string) => void; // asks the server for a reference's choices (once per path)
}

/** The REST path of a new entry of l below owner: its keys stand as "new". */
const newEntry = (owner: string, l: NestedList) => `${owner}/${rowPath(l, keyOf(l, {}).map(() => "new"))}`;

/** The …/values path of leaf rel of a new entry of l, below the entry owner. */
const valuesOf = (owner: string, l: NestedList, rel: string) => `${newEntry(owner, l)}/${rel}/values`;

export function ListEditor(props: {
  l: NestedList;
  rows: Row[];
  onRows: (rs: Row[]) => void;
  prefix: string; // the path of the row holding the list, below the entry edited, with its "/" ("" for the entry's own lists)
  owner: string; // the REST path of the entry holding the list (a new one's keys "new": newEntry)
  ctx: FormContext;
}) {
  const { l, rows, onRows, prefix, owner, ctx } = props;
  useEffect(() => {
    for (const f of l.form.fields) if (isReference(f.schema)) ctx.ask(valuesOf(owner, l, f.rel));
  }, [owner]);
  const keys = l.node.keys ?? [];
  const put = (r: Row) => onRows(rows.map((x) => (x.id === r.id ? r : x)));
  return (
    <fieldset class="nested" data-list={prefix + l.rel}>
      <legend>{prefix + l.rel}</legend>
      <table>
        <thead>
          <tr>
            {l.form.fields.map((f) => (
              <th>
                {f.rel}
                {(f.mandatory || keys.includes(f.rel)) && (
                  <span class="mandatory" title="mandatory">
                    {" "}
                    *
                  </span>
                )}
              </th>
            ))}
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.flatMap((r) => {
            const rp = prefix + rowPath(l, keyOf(l, r.values));
            const row = (
              <tr key={r.id} data-row={rp} class={ctx.errorsAt(rp).length ? "invalid" : ""}>
                {l.form.fields.map((f) => (
                  <td data-field={`${l.rel}/${f.rel}`} class={ctx.errorsAt(`${rp}/${f.rel}`).length ? "invalid" : ""}>
                    <Input
                      f={f}
                      id={`f-${l.rel}-${r.id}-${f.rel}`}
                      value={r.values[f.rel] ?? ""}
                      choices={ctx.choices[valuesOf(owner, l, f.rel)]}
                      onInput={(v) => put({ ...r, values: { ...r.values, [f.rel]: v } })}
                    />
                    <Errors problems={ctx.errorsAt(`${rp}/${f.rel}`)} />
                  </td>
                ))}
                <td>
                  <button type="button" class="remove-row" onClick={() => onRows(rows.filter((x) => x.id !== r.id))}>
                    Remove
                  </button>
                  <Errors problems={ctx.errorsAt(rp)} />
                </td>
              </tr>
            );
            if (l.form.lists.length === 0) return [row];
            const inner = r.orig !== null ? `${owner}/${rowPath(l, keyOf(l, r.orig))}` : newEntry(owner, l);
            return [
              row,
              <tr key={`${r.id}-lists`} class="row-lists">
                <td colSpan={l.form.fields.length + 1}>
                  <RowLists l={l} r={r} rp={rp} owner={inner} put={put} ctx={ctx} />
                </td>
              </tr>,
            ];
          })}
        </tbody>
      </table>
      <button type="button" class="add-row" onClick={() => onRows([...rows, rowOf(l.form, null)])}>
        Add {l.node.name}
      </button>
    </fieldset>
  );
}

/** The lists of a row's entry, under the row; rendered once opened (a site's devices may hold many). */
function RowLists({ l, r, rp, owner, put, ctx }: { l: NestedList; r: Row; rp: string; owner: string; put: (r: Row) => void; ctx: FormContext }) {
  const [open, setOpen] = useState(false);
  const shown = open || ctx.erred(rp + "/");
  return (
    <details class="row-lists" data-of={rp} open={shown} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>{l.form.lists.map((il) => `${il.rel} (${(r.lists[il.rel] ?? []).length})`).join(" · ")}</summary>
      {shown &&
        l.form.lists.map((il) => (
          <ListEditor
            key={il.rel}
            l={il}
            rows={r.lists[il.rel] ?? []}
            onRows={(rs) => put({ ...r, lists: { ...r.lists, [il.rel]: rs } })}
            prefix={rp + "/"}
            owner={owner}
            ctx={ctx}
          />
        ))}
    </details>
  );
}
