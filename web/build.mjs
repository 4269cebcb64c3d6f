// Build the dashboard: copy our plain HTML/JS/CSS and the vendored libraries from
// node_modules into the Python package's serve/static/ (no bundler, no CDN at run time).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "ceasewatch", "serve", "static");
const vendor = join(out, "vendor");

const copies = [
  ["maplibre-gl", ["dist/maplibre-gl.js", "dist/maplibre-gl.css", "LICENSE.txt"]],
  ["swagger-ui-dist", ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]],
];

rmSync(out, { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });
cpSync(join(here, "src"), out, { recursive: true });

const versions = {};
for (const [pkg, files] of copies) {
  const root = join(here, "node_modules", pkg);
  if (!existsSync(root)) {
    console.error(`missing node_modules/${pkg}: run 'npm ci --prefix web' first`);
    process.exit(1);
  }
  mkdirSync(join(vendor, pkg), { recursive: true });
  for (const f of files) {
    cpSync(join(root, f), join(vendor, pkg, f.split("/").pop()));
  }
  versions[pkg] = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;
}
writeFileSync(join(vendor, "VERSIONS.json"), JSON.stringify(versions, null, 2) + "\n");
// build output, not source: keep it out of git wherever the root .gitignore stands
writeFileSync(join(out, ".gitignore"), "*\n");
console.log(`dashboard built into ${out} (${Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(", ")})`);
