// The landing page: every model set the server has loaded (GET /models),
// each version linked to its view; a set per enterprise links once per
// enterprise the caller may read (GET /enterprises answers only those).
import { get } from "../api";
import { modelSets, restBase, type ModelSet } from "../models";
import { Show, useLoad } from "../load";
import { root } from "../router";

interface Enterprise {
  "enterprise-id": string;
  "display-name"?: string;
}

export function Home() {
  const state = useLoad(
    () => Promise.all([modelSets(), get<Enterprise[]>("/enterprises").then((a) => a.body)]),
    [],
  );
  return (
    <section>
      <h1>Model sets</h1>
      <Show state={state}>{([sets, ents]) => <SetTable sets={sets} enterprises={ents} />}</Show>
    </section>
  );
}

function SetTable({ sets, enterprises }: { sets: ModelSet[]; enterprises: Enterprise[] }) {
  return (
    <table id="model-sets">
      <thead>
        <tr>
          <th>set</th>
          <th>version</th>
          <th>scope</th>
          <th>open</th>
        </tr>
      </thead>
      <tbody>
        {sets.flatMap((s) =>
          s.versions.map((v) => (
            <tr data-set={`${v.name}/${v.version}`}>
              <td>{v.name}</td>
              <td>
                {v.version}
                {v["migrated-to"] && <span class="note"> (migrated to {v["migrated-to"]})</span>}
              </td>
              <td>{v.scope}</td>
              <td>
                {v.scope === "global" ? (
                  <a href={`${root}browse${restBase(v)}`}>browse</a>
                ) : enterprises.length === 0 ? (
                  <span class="note">no enterprise you may read</span>
                ) : (
                  enterprises.map((e) => (
                    <a class="enterprise" href={`${root}browse${restBase(v)}/${encodeURIComponent(e["enterprise-id"])}`}>
                      {e["display-name"] || e["enterprise-id"]}
                    </a>
                  ))
                )}
              </td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}
