// Builds the portal into dist/: the bundle (hashed names, so the server may
// cache them for good) and index.html naming them. Run by `npm run build`
// after `tsc --noEmit` (a type error fails the build); prints the
// JavaScript's compressed size and fails over the budget (docs/portal.md).
import { build } from "esbuild";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const budgetKiB = 300; // JavaScript, gzip-compressed (issue 15)

rmSync("dist/assets", { recursive: true, force: true });
rmSync("dist/index.html", { force: true });
mkdirSync("dist/assets", { recursive: true });

const result = await build({
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === "src/main.tsx");
if (!entry) throw new Error("esbuild produced no output for src/main.tsx");
const [js, { cssBundle }] = entry;
const base = (p) => p.replace(/^dist\//, "/portal/");

writeFileSync("dist/index.html", `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>AMP portal</title>
${cssBundle ? `<link rel="stylesheet" href="${base(cssBundle)}">\n` : ""}<script type="module" src="${base(js)}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The AMP portal needs JavaScript.</noscript>
</body>
</html>
`);

let gz = 0;
for (const f of readdirSync("dist/assets").filter((f) => f.endsWith(".js"))) {
  gz += gzipSync(readFileSync(`dist/assets/${f}`), { level: 9 }).length;
}
const kib = (gz / 1024).toFixed(1);
console.log(`portal: JavaScript ${kib} KiB gzip-compressed (budget ${budgetKiB} KiB) -> web/dist`);
if (gz > budgetKiB * 1024) {
  console.error(`portal: the JavaScript exceeds its budget of ${budgetKiB} KiB compressed`);
  process.exit(1);
}
