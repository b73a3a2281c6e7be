// The caller's credential, kept in memory only: never in localStorage or
// sessionStorage, so a reload (or another tab) asks for it again, and no
// script injected later can read one left behind. Sign-in methods are
// Credential implementations: an API token (here) and an OIDC login's ID
// token (oidc.ts).

export interface Credential {
  /** How the user signed in, shown in the header. */
  readonly method: string;
  /** The Authorization header value for the next API call. */
  authorization(): Promise<string>;
}

/** An AMP API token (docs/identity.md), pasted by the user. */
export class APIToken implements Credential {
  readonly method = "API token";
  readonly #token: string;
  constructor(token: string) {
    this.#token = token.trim();
  }
  authorization(): Promise<string> {
    return Promise.resolve(`Bearer ${this.#token}`);
  }
}

type Listener = () => void;

/** The session: the credential (or none) and why the last one ended. */
class Session {
  #credential: Credential | null = null;
  #reason = "";
  #listeners = new Set<Listener>();

  get credential(): Credential | null {
    return this.#credential;
  }
  /** The server's reason the last credential was refused, if it was. */
  get reason(): string {
    return this.#reason;
  }
  signIn(c: Credential): void {
    this.#credential = c;
    this.#reason = "";
    this.#notify();
  }
  /** Forgets the credential; reason says why when the server refused it. */
  signOut(reason = ""): void {
    this.#credential = null;
    this.#reason = reason;
    this.#notify();
  }
  subscribe(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  #notify(): void {
    for (const l of this.#listeners) l();
  }
}

export const session = new Session();
