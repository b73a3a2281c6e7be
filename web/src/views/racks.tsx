// A site's racks and cables, as a technician reads them (the book's
// Figures 5.3 and 5.4, docs/provisioning.md): each rack's elevation (GET
// /provision/{site}/racks/{rack}/elevation.svg, front or rear, shown as
// an image: the drawing runs no script) and the cable report (GET
// /provision/{site}/cables). Operators and the site's tenant may read
// them; the server refuses anyone else.
import { useState } from "preact/hooks";
import { get, getText } from "../api";
import { Show, useLoad } from "../load";
import { root } from "../router";
import { browseLink } from "./parts";

const enc = encodeURIComponent;

interface Cable {
  "cable-id": string;
  label?: string;
  status?: string;
  type?: string;
  length?: string;
  "length-unit"?: string;
  "side-a": string;
  "termination-a": string;
  "side-b": string;
  "termination-b": string;
}

/** The inventory's sites, each linked to its racks and cables (the operators' entry: the inventory is theirs). */
export function Sites() {
  const state = useLoad(() => get<{ "site-id": string; tenant?: string }[]>("/inventory/v1.0.0/site").then((a) => a.body), []);
  return (
    <section>
      <h1>Racks and cables</h1>
      <Show state={state}>
        {(sites) =>
          sites.length === 0 ? (
            <p class="note" id="sites">
              No site in the inventory.
            </p>
          ) : (
            <ul id="sites">
              {sites.map((s) => (
                <li>
                  <a href={`${root}racks/${enc(s["site-id"])}`}>{s["site-id"]}</a>
                  {s.tenant && <span class="note"> ({s.tenant})</span>}
                </li>
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

export function Racks({ site }: { site: string }) {
  const [face, setFace] = useState<"front" | "rear">("front");
  const racks = useLoad(() => get<{ "rack-id": string }[]>(`/inventory/v1.0.0/site/${enc(site)}/rack`).then((a) => a.body.map((r) => r["rack-id"])), [site]);
  const cables = useLoad(() => get<Cable[]>(`/provision/${enc(site)}/cables`).then((a) => a.body), [site]);
  return (
    <section>
      <h1>Site {site}: racks and cables</h1>
      <p>
        Its inventory: <a href={browseLink(`/inventory/v1.0.0/site/${enc(site)}`)}>site {site}</a>{" "}
        <label>
          face{" "}
          <select id="rack-face" value={face} onChange={(e) => setFace((e.target as HTMLSelectElement).value as "front" | "rear")}>
            <option value="front">front</option>
            <option value="rear">rear</option>
          </select>
        </label>
      </p>
      <Show state={racks}>
        {(ids) =>
          ids.length === 0 ? (
            <p class="note">No rack at this site.</p>
          ) : (
            <div class="racks">
              {ids.map((r) => (
                <Elevation site={site} rack={r} face={face} key={`${r}/${face}`} />
              ))}
            </div>
          )
        }
      </Show>
      <h2>Cables</h2>
      <Show state={cables}>
        {(list) => (
          <table id="cables">
            <thead>
              <tr>
                <th>ID</th>
                <th>label</th>
                <th>side A</th>
                <th>termination A</th>
                <th>side B</th>
                <th>termination B</th>
                <th>status</th>
                <th>type</th>
                <th>length</th>
              </tr>
            </thead>
            <tbody>
              {list.map((c) => (
                <tr data-cable={c["cable-id"]}>
                  <td>{c["cable-id"]}</td>
                  <td>{c.label}</td>
                  <td>{c["side-a"]}</td>
                  <td>{c["termination-a"]}</td>
                  <td>{c["side-b"]}</td>
                  <td>{c["termination-b"]}</td>
                  <td>{c.status}</td>
                  <td>{c.type}</td>
                  <td>{c.length && `${c.length} ${c["length-unit"] ?? ""}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Show>
    </section>
  );
}

function Elevation({ site, rack, face }: { site: string; rack: string; face: string }) {
  const state = useLoad(
    () => getText(`/provision/${enc(site)}/racks/${enc(rack)}/elevation.svg?face=${face}`, "image/svg+xml").then((svg) => `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`),
    [site, rack, face],
  );
  return (
    <figure class="rack" data-rack={rack}>
      <figcaption>
        rack {rack} ({face})
      </figcaption>
      <Show state={state}>{(src) => <img src={src} alt={`elevation of rack ${rack}, ${face}`} />}</Show>
    </figure>
  );
}
