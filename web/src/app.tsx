// The portal's shell: sign-in when there is no credential (whatever the
// path: after signing in, the same view shows), otherwise the header, its
// navigation (the operators' views only for those the server lets read
// them) and the view the path names.
import { useEffect, useState } from "preact/hooks";
import { session } from "./session";
import { forgetModelSets } from "./models";
import { forgetSpec } from "./spec";
import { access, forgetAccess } from "./access";
import { basket, useBasket } from "./basket";
import { navigate, onLinkClick, root, useLocation } from "./router";
import { SignIn } from "./views/signin";
import { Home } from "./views/home";
import { Browse } from "./views/browse";
import { Basket } from "./views/basket";
import { History, Transaction } from "./views/history";
import { Audit } from "./views/audit";
import { Cluster, Clusters } from "./views/clusters";
import { Summary } from "./views/summary";
import { RolloutView, Rollouts } from "./views/rollouts";
import { Alerts } from "./views/alerts";
import { Racks, Sites } from "./views/racks";

function useSession() {
  const [, tick] = useState(0);
  useEffect(() => session.subscribe(() => tick((n) => n + 1)), []);
  return session;
}

/** Whether the caller sees the operators' views (asked once per session; false until known or when refused). */
function useOps(): boolean {
  const [ops, setOps] = useState(false);
  useEffect(() => {
    access().then(
      (a) => setOps(a.ops),
      () => setOps(false),
    );
  }, [session.credential]);
  return ops;
}

/** The view a path under /portal/ names. */
function route(path: string, query: URLSearchParams, ops: boolean) {
  const sub = path.slice(root.length);
  const [first = "", second] = sub.split("/");
  switch (first) {
    case "browse":
      return <Browse path={path.slice(`${root}browse`.length)} query={query} />;
    case "basket":
      return <Basket />;
    case "history":
      return second ? <Transaction index={decodeURIComponent(second)} /> : <History query={query} />;
    case "audit":
      return <Audit query={query} />;
    case "clusters":
      return second ? <Cluster name={decodeURIComponent(second)} /> : <Clusters />;
    case "rollouts":
      return second ? <RolloutView id={decodeURIComponent(second)} /> : <Rollouts />;
    case "alerts":
      return <Alerts query={query} />;
    case "racks":
      return second ? <Racks site={decodeURIComponent(second)} /> : <Sites />;
    default:
      // the operators' landing page: the central summary first
      return (
        <>
          {ops && <Summary />}
          <Home />
        </>
      );
  }
}

export function App() {
  const s = useSession();
  const { path, query } = useLocation();
  const staged = useBasket();
  const ops = useOps();
  if (!s.credential) return <SignIn reason={s.reason} staged={staged.length} />;
  const signOut = () => {
    forgetModelSets();
    forgetSpec();
    forgetAccess();
    basket.clear(); // signing out on purpose: the next user starts with an empty basket
    s.signOut();
    navigate(root);
  };
  return (
    <div class="shell" onClick={onLinkClick}>
      <header>
        <a class="brand" href={root}>
          AMP
        </a>
        <nav class="main">
          <a href={root}>Model sets</a>
          <a href={`${root}basket`} id="nav-basket">
            Basket ({staged.length})
          </a>
          <a href={`${root}history`} id="nav-history">
            History
          </a>
          <a href={`${root}audit`} id="nav-audit">
            Audit
          </a>
          <a href={`${root}alerts`} id="nav-alerts">
            Alerts
          </a>
          {ops && (
            <a href={`${root}clusters`} id="nav-clusters">
              Clusters
            </a>
          )}
          {ops && (
            <a href={`${root}rollouts`} id="nav-rollouts">
              Rollouts
            </a>
          )}
          {ops && (
            <a href={`${root}racks`} id="nav-racks">
              Racks
            </a>
          )}
        </nav>
        <span class="who" id="signed-in">
          signed in with an {s.credential.method}
        </span>
        <button type="button" id="sign-out" onClick={signOut}>
          Sign out
        </button>
      </header>
      {/* a new path is a new view: nothing of the last one's state (or its data) shows while the next loads */}
      <main key={`${path}?${query}`}>{route(path, query, ops)}</main>
    </div>
  );
}
