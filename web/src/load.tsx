// Loading what a view shows, and showing the server's refusal when it
// refuses (403, 404, … with its reasons): the portal never hides why.
import { useEffect, useState } from "preact/hooks";
import { APIError } from "./api";

export type Loaded<T> = { value: T } | { error: unknown } | null;

/** Runs load whenever a dependency changes; null while it runs. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>(null);
  useEffect(() => {
    let live = true;
    setState(null);
    load().then(
      (value) => live && setState({ value }),
      (error: unknown) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, deps);
  return state;
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
