// The portal's entry point (docs/portal.md).
import { render } from "preact";
import { App } from "./app";
import "./style.css";

const el = document.getElementById("app");
if (el) render(<App />, el);
