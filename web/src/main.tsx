// The portal's entry point (docs/portal.md); at /portal/callback, the end
// of an OIDC sign-in's pop-up instead (oidc.ts).
import { render } from "preact";
import { App } from "./app";
import { finishCallback } from "./oidc";
import "./style.css";

const el = document.getElementById("app");
if (!finishCallback() && el) render(<App />, el);
