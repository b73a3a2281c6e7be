// Sign-in with the OpenID Connect provider amp serve trusts
// (docs/identity.md), as a browser client should: the authorization code
// flow with PKCE (RFC 7636), in a pop-up window so that this page — and
// the credential and basket in its memory — stays. The pop-up comes back
// to /portal/callback, which hands the code to this page (postMessage,
// same origin only) and closes; this page exchanges the code at the
// provider's token endpoint and keeps the ID token in memory, like an API
// token. AMP verifies it on every call (signature, issuer, audience,
// expiry); when it expires the server's 401 asks the user to sign in again.
// Nothing is written to storage: the verifier, state and nonce live in
// this function's closure.
import type { Credential } from "./session";

/** How users sign in besides a token, from the server (GET /portal/sign-in.json). */
export interface OIDCConfig {
  issuer: string;
  "client-id": string;
}

export const callbackPath = "/portal/callback";

let config: Promise<OIDCConfig | null> | null = null;

/** The OIDC provider the server offers, or null (tokens only). */
export function oidcConfig(): Promise<OIDCConfig | null> {
  config ??= fetch("/portal/sign-in.json", { cache: "no-store", credentials: "omit" })
    .then((r) => r.json() as Promise<{ oidc: OIDCConfig | null }>)
    .then(
      (b) => b.oidc,
      () => null,
    );
  return config;
}

/** An ID token from the provider, in memory only. */
export class OIDCToken implements Credential {
  readonly method: string;
  readonly #token: string;
  constructor(idToken: string, user: string) {
    this.#token = idToken;
    this.method = `OIDC login (${user})`;
  }
  authorization(): Promise<string> {
    return Promise.resolve(`Bearer ${this.#token}`);
  }
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (n: number) => b64url(crypto.getRandomValues(new Uint8Array(n)));

interface Callback {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
}

/** Waits for the pop-up's callback message; rejects when the pop-up closes without one. */
function callback(popup: Window): Promise<Callback> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = () => {
      done = true;
      removeEventListener("message", onMessage);
      clearInterval(watch);
    };
    const onMessage = (e: MessageEvent) => {
      if (e.origin !== location.origin || e.source !== popup) return;
      finish();
      resolve(e.data as Callback);
    };
    // a closed pop-up may still have a message on its way: give it a moment
    const watch = setInterval(() => {
      if (popup.closed && !done) setTimeout(() => !done && (finish(), reject(new Error("the sign-in window was closed"))), 1000);
    }, 500);
    addEventListener("message", onMessage);
  });
}

/**
 * Runs the authorization code flow with PKCE against cfg's provider and
 * returns the credential. Call it from a click: the pop-up is opened
 * before anything is awaited, so the browser lets it open.
 */
export async function oidcSignIn(cfg: OIDCConfig): Promise<OIDCToken> {
  const popup = window.open("", "amp-oidc", "popup,width=480,height=640");
  if (!popup) throw new Error("the browser blocked the sign-in window: allow pop-ups for this site");
  try {
    const res = await fetch(`${cfg.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, { credentials: "omit" });
    if (!res.ok) throw new Error(`the provider's discovery document: ${res.status} ${res.statusText}`);
    const disc = (await res.json()) as { authorization_endpoint: string; token_endpoint: string };
    const verifier = random(32);
    const state = random(16);
    const nonce = random(16);
    const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
    const redirect = location.origin + callbackPath;
    const auth = new URL(disc.authorization_endpoint);
    auth.search = new URLSearchParams({
      response_type: "code",
      client_id: cfg["client-id"],
      redirect_uri: redirect,
      scope: "openid profile email groups",
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: "S256",
    }).toString();
    popup.location.href = auth.toString();
    const cb = await callback(popup);
    if (cb.error) throw new Error(`the provider refused: ${cb.error}${cb.error_description ? `: ${cb.error_description}` : ""}`);
    if (cb.state !== state || !cb.code) throw new Error("the provider's answer is not this sign-in's (state)");
    const tr = await fetch(disc.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: cb.code, redirect_uri: redirect, client_id: cfg["client-id"], code_verifier: verifier }),
      credentials: "omit",
    });
    const tok = (await tr.json()) as { id_token?: string; error?: string; error_description?: string };
    if (!tr.ok || !tok.id_token) throw new Error(`the provider refused the code: ${tok.error ?? tr.status}${tok.error_description ? `: ${tok.error_description}` : ""}`);
    const claims = JSON.parse(atob((tok.id_token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as {
      nonce?: string;
      sub: string;
      preferred_username?: string;
    };
    if (claims.nonce !== nonce) throw new Error("the ID token is not this sign-in's (nonce)");
    return new OIDCToken(tok.id_token, claims.preferred_username ?? claims.sub);
  } finally {
    if (!popup.closed) popup.close();
  }
}

/**
 * The pop-up's end of the flow, at /portal/callback: hand what the
 * provider answered to the page that opened it (same origin only), then
 * close. Returns false when this is not that pop-up.
 */
export function finishCallback(): boolean {
  if (location.pathname !== callbackPath) return false;
  const q = new URLSearchParams(location.search);
  const opener = window.opener as Window | null;
  if (opener) {
    const msg: Callback = {};
    for (const k of ["code", "state", "error", "error_description"] as const) {
      const v = q.get(k);
      if (v !== null) msg[k] = v;
    }
    opener.postMessage(msg, location.origin);
    window.close();
  }
  document.body.textContent = "This window finishes a sign-in to the AMP portal; it can be closed.";
  return true;
}
