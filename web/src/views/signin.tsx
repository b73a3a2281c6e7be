// Sign-in with an AMP API token (docs/identity.md; `amp serve --demo`
// prints where its admin token is). The token is checked against the
// server (GET /models, which every configuration role may read) before the
// session takes it, so a wrong one is refused here with the server's
// reason. When the server trusts an OIDC provider, signing in with it
// (authorization code + PKCE, oidc.ts) sits beside the token, checked the
// same way.
import { useState } from "preact/hooks";
import { APIError, call } from "../api";
import { APIToken, session, type Credential } from "../session";
import { oidcConfig, oidcSignIn } from "../oidc";
import { useLoad } from "../load";

export function SignIn({ reason, staged }: { reason: string; staged: number }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const oidc = useLoad(oidcConfig, []);
  const provider = oidc && "value" in oidc ? oidc.value : null;
  /** Takes a credential once the server accepts it (GET /models). */
  const check = async (get: () => Promise<Credential>) => {
    setBusy(true);
    setError("");
    try {
      const c = await get();
      await call("GET", "/models", { credential: c });
      session.signIn(c);
    } catch (err) {
      setError(err instanceof APIError ? err.message : err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    void check(() => Promise.resolve(new APIToken(token)));
  };
  const shown = error || reason;
  return (
    <main class="sign-in">
      <h1>AMP portal</h1>
      {provider && (
        <p>
          <button type="button" id="oidc-sign-in" disabled={busy} onClick={() => void check(() => oidcSignIn(provider))}>
            Sign in with {new URL(provider.issuer).host}
          </button>
        </p>
      )}
      <form id="sign-in" onSubmit={submit}>
        <label for="token">API token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {shown && (
          <p class="error" id="sign-in-error" role="alert">
            {error ? "Refused: " : "Signed out: "}
            {shown}
          </p>
        )}
        {staged > 0 && (
          <p class="note" id="basket-kept">
            Your basket keeps {staged} staged {staged === 1 ? "edit" : "edits"}: sign in again to commit {staged === 1 ? "it" : "them"}.
          </p>
        )}
      </form>
      <p class="hint">
        The token is kept in this page's memory only: a reload or a new tab asks for it again. <code>amp serve</code> writes
        its first admin token to <code>&lt;data-dir&gt;/admin.token</code>; operators create others with{" "}
        <code>amp token create</code>.
      </p>
    </main>
  );
}
