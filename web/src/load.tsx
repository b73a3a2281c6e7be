// Loading what a view shows, and showing the server's refusal when it
// refuses (403, 404, … with its reasons): the portal never hides why.
import { useEffect, useState } from "preact/hooks";
import { APIError } from "./api";

export type Loaded<T> = { value: T } | { error: unknown } | null;

/**
 * Runs load whenever a dependency changes; null while it runs. What was
 * loaded for other dependencies is never returned, not even for the one
 * render before the effect starts the new load: a view never shows (or
 * lets anyone click) the last object's data under the next one's name.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<{ key: string; loaded: Loaded<T> }>({ key, loaded: null });
  useEffect(() => {
    let live = true;
    setState({ key, loaded: null });
    load().then(
      (value) => live && setState({ key, loaded: { value } }),
      (error: unknown) => live && setState({ key, loaded: { error } }),
    );
    return () => {
      live = false;
    };
  }, deps);
  return state.key === key ? state.loaded : null;
}

/** The server's refusal as the user sees it: status, title and each path's reason. */
export function Refusal({ error }: { error: unknown }) {
  if (!(error instanceof APIError)) {
    return (
      <p class="error refusal" role="alert">
        {String(error)}
      </p>
    );
  }
  return (
    <div class="error refusal" role="alert">
      <p>
        The server refused: {error.status} {error.title}
      </p>
      <ul>
        {error.problems.map((p) => (
          <li>
            <code>{p.path}</code>: {p.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** Renders a Loaded: a placeholder, the refusal, or the view. */
export function Show<T>({ state, children }: { state: Loaded<T>; children: (v: T) => preact.ComponentChildren }) {
  if (state === null) return <p class="loading">Loading…</p>;
  if ("error" in state) return <Refusal error={state.error} />;
  return <>{children(state.value)}</>;
}
