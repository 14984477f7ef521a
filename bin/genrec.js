#!/usr/bin/env node
// The `genrec` binary: runs the compiled CLI (dist/, built by `npm install` via `prepare`, or `npm run build`).
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js')) {
    process.stderr.write('GENREC_E_NOT_BUILT: genrec is not compiled (dist/ is missing)\n  hint: run `npm install` or `npm run build` in the genrec package\n');
    process.exit(1);
  }
  throw err;
}
// exitCode rather than exit(): lets stdout drain when it is a pipe (`genrec bench engine --json | tail -1`).
process.exitCode = await cli.main(process.argv);
