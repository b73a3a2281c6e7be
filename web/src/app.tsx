// The portal's shell: sign-in when there is no credential (whatever the
// path: after signing in, the same view shows), otherwise the header and
// the view the path names.
import { useEffect, useState } from "preact/hooks";
import { session } from "./session";
import { forgetModelSets } from "./models";
import { forgetSpec } from "./spec";
import { navigate, onLinkClick, root, useLocation } from "./router";
import { SignIn } from "./views/signin";
import { Home } from "./views/home";
import { Browse } from "./views/browse";

function useSession() {
  const [, tick] = useState(0);
  useEffect(() => session.subscribe(() => tick((n) => n + 1)), []);
  return session;
}

export function App() {
  const s = useSession();
  const { path, query } = useLocation();
  if (!s.credential) return <SignIn reason={s.reason} />;
  const signOut = () => {
    forgetModelSets();
    forgetSpec();
    s.signOut();
    navigate(root);
  };
  let view;
  if (path.startsWith(`${root}browse/`)) {
    view = <Browse path={path.slice(`${root}browse`.length)} query={query} />;
  } else {
    view = <Home />;
  }
  return (
    <div class="shell" onClick={onLinkClick}>
      <header>
        <a class="brand" href={root}>
          AMP
        </a>
        <span class="who" id="signed-in">
          signed in with an {s.credential.method}
        </span>
        <button type="button" id="sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>{view}</main>
    </div>
  );
}
