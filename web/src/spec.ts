// The JSON schema of an object, from the OpenAPI document the server serves
// (GET /spec, docs/openapi.md): types, ranges, patterns, lengths, defaults,
// enumerations, mandatory members, and which leaves are references (their
// choices at …/values). Read once per session.
import { get } from "./api";

export interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  oneOf?: Schema[];
}

interface Doc {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: Schema }> }> }>>;
  components: { schemas: Record<string, Schema> };
}

let loaded: Promise<Doc> | null = null;

function spec(): Promise<Doc> {
  loaded ??= get<Doc>("/spec").then(
    (a) => a.body,
    (e: unknown) => {
      loaded = null;
      throw e;
    },
  );
  return loaded;
}

export function forgetSpec(): void {
  loaded = null;
}

/** A schema with its $ref followed (components/schemas only). */
export function deref(doc: { components: { schemas: Record<string, Schema> } }, s: Schema | undefined): Schema | undefined {
  let seen = 0;
  while (s?.$ref && seen++ < 8) s = doc.components.schemas[s.$ref.replace("#/components/schemas/", "")];
  return s;
}

/** The schema GET answers for a REST path, matched against the document's path templates. */
export async function schemaOf(path: string): Promise<{ schema: Schema; doc: Doc } | null> {
  const doc = await spec();
  const segs = path.split("/");
  for (const [tmpl, ops] of Object.entries(doc.paths)) {
    const t = tmpl.split("/");
    if (t.length !== segs.length || !t.every((x, i) => (x.startsWith("{") && x.endsWith("}")) || x === segs[i])) continue;
    const s = deref(doc, ops["get"]?.responses?.["200"]?.content?.["application/json"]?.schema);
    if (s) return { schema: s, doc };
  }
  return null;
}

/** A leaf whose choices the server lists at …/values (a leafref or a reference across sets). */
export const isReference = (s: Schema) => (s.description ?? "").includes("/values lists the valid choices");
