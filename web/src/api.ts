// Calls to AMP's REST API, same origin. Every call carries the session's
// credential; a 401 ends the session with the server's reason, so the
// portal asks the user to sign in again and says why.
import { session, type Credential } from "./session";

/** One entry of a problem+json answer's errors (docs/api.md). */
export interface Problem {
  path: string;
  reason: string;
}

/** A refused call: the HTTP status and the server's problem+json. */
export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly problems: Problem[],
  ) {
    super(problems.length ? problems.map((p) => `${p.path}: ${p.reason}`).join("; ") : title);
  }
}

export interface Answer<T> {
  body: T;
  headers: Headers;
}

async function refusal(res: Response): Promise<APIError> {
  let title = `${res.status} ${res.statusText}`;
  let problems: Problem[] = [];
  try {
    const p = (await res.json()) as { title?: string; errors?: Problem[] };
    title = p.title ?? title;
    problems = p.errors ?? [];
  } catch {
    // not problem+json: the status says it all
  }
  return new APIError(res.status, title, problems);
}

/**
 * fetch, with a call that never reached an answer (the server down or
 * restarting, the network gone) said as such rather than as the browser's
 * bare "Failed to fetch": what the page holds (the basket) stays, and the
 * user can try again once the server is back.
 */
async function send(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (e) {
    throw new Error(`The server could not be reached (${e instanceof Error ? e.message : String(e)}); try again once it is back.`);
  }
}

/** Calls the API with the given credential (the session's by default). */
export async function call<T>(
  method: string,
  path: string,
  opts: { body?: unknown; credential?: Credential | null; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const credential = opts.credential === undefined ? session.credential : opts.credential;
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  if (credential) headers["Authorization"] = await credential.authorization();
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await send(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "omit",
    cache: "no-store",
  });
  if (!res.ok) {
    const err = await refusal(res);
    if (res.status === 401 && credential && credential === session.credential) {
      session.signOut(err.message);
    }
    throw err;
  }
  return { body: (await res.json()) as T, headers: res.headers };
}

export const get = <T>(path: string) => call<T>("GET", path);

/** A GET whose answer is not JSON (an SVG drawing), as text; refused as call refuses. */
export async function getText(path: string, accept: string): Promise<string> {
  const headers: Record<string, string> = { Accept: accept };
  const credential = session.credential;
  if (credential) headers["Authorization"] = await credential.authorization();
  const res = await send(path, { headers, credentials: "omit", cache: "no-store" });
  if (!res.ok) {
    const err = await refusal(res);
    if (res.status === 401 && credential && credential === session.credential) session.signOut(err.message);
    throw err;
  }
  return res.text();
}
