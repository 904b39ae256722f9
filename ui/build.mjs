// `npm run build`: bundle src/main.ts into dist/main.js and copy the static
// files beside it. Type checking is done first by `tsc --noEmit`.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });

await build({
  absWorkingDir: root,
  entryPoints: ["src/main.ts"],
  outfile: "dist/main.js",
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "browser",
  minify: false,
  sourcemap: false,
  logLevel: "warning",
});

for (const file of ["index.html", "styles.css"]) {
  copyFileSync(join(root, file), join(dist, file));
}

console.log("ui: built dist/ (index.html, main.js, styles.css)");
