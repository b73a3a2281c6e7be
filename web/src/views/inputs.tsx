// One field of a generated form: a choice (an enumeration, a boolean, a
// reference's valid choices from the server) or free text, the schema's
// restrictions beside it, and the server's errors at it.
import type { Problem } from "../api";
import type { Field } from "../form";
import type { Schema } from "../spec";

export function hint(s: Schema): string {
  const h: string[] = [];
  if (s.type) h.push(s.format ?? s.type);
  if (s.minimum !== undefined || s.maximum !== undefined) h.push(`${s.minimum ?? ""}..${s.maximum ?? ""}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) h.push(`length ${s.minLength ?? 0}..${s.maxLength ?? ""}`);
  if (s.pattern) h.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) h.push(`default ${String(s.default)}`);
  return h.join(" · ");
}

export function Input({ f, id = `f-${f.rel}`, value, choices, onInput }: { f: Field; id?: string; value: string; choices?: string[]; onInput: (v: string) => void }) {
  const change = (e: Event) => onInput((e.target as HTMLInputElement | HTMLSelectElement).value);
  // no choices (a leafref whose path depends on a sibling not chosen yet): free text, judged by the server
  const options = f.schema.enum?.map(String) ?? (f.schema.type === "boolean" ? ["true", "false"] : choices?.length ? choices : undefined);
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

export function Errors({ problems }: { problems: Problem[] }) {
  return (
    <>
      {problems.map((p) => (
        <p class="field-error" role="alert">
          {p.reason}
        </p>
      ))}
    </>
  );
}
