// The portal's routes are paths under /portal/ (the server answers every
// one of them with the application); this module keeps the current one and
// moves between them with the History API.
import { useEffect, useState } from "preact/hooks";

export const root = "/portal/";

const listeners = new Set<() => void>();

export function navigate(to: string): void {
  if (to !== location.pathname + location.search) history.pushState(null, "", to);
  for (const l of listeners) l();
}

/** The current path and query, re-rendering on every change. */
export function useLocation(): { path: string; query: URLSearchParams } {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    addEventListener("popstate", l);
    return () => {
      listeners.delete(l);
      removeEventListener("popstate", l);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Follows same-origin links without reloading (the credential lives in memory). */
export function onLinkClick(e: MouseEvent): void {
  const a = (e.target as Element | null)?.closest("a");
  if (!a || a.origin !== location.origin || !a.pathname.startsWith(root) || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.pathname + a.search);
}
