// Runs the end-to-end tests given as arguments with `node --test`, or says
// plainly why they cannot run and exits 77, which ctest reports as skipped.
//
//   node tests/e2e/run.mjs tests/e2e/lesson5_wire.test.mjs tests/e2e/lesson5_browser.test.mjs

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";

function skip(why) {
  console.log(`SKIPPED: ${why}`);
  process.exit(SKIP);
}

for (const module of ["playwright-core", "ws"]) {
  if (!fs.existsSync(path.join(here, "node_modules", module, "package.json"))) {
    skip(`tests/e2e/node_modules/${module} is missing: run tools/bootstrap (it runs npm ci in tests/e2e)`);
  }
}
if (!fs.existsSync(chromium)) {
  skip(`${chromium} is missing: run tools/bootstrap (it installs Debian's chromium)`);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tests/e2e/run.mjs TEST_FILE...");
  process.exit(2);
}
const result = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
