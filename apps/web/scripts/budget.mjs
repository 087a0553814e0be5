#!/usr/bin/env node
// Bundle budget: the gzip sizes (zlib, level 9) of every .js file under dist/, added up, must not
// exceed 150 KB (153600 bytes).
//
// Usage: node scripts/budget.mjs [DIR] (default dist/); BUDGET_BYTES overrides the limit.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = resolve(root, process.argv[2] ?? 'dist');
const limit = Number(process.env.BUDGET_BYTES ?? 153600);

function* walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

let files;
try {
  files = [...walk(dist)].filter((f) => f.endsWith('.js')).sort();
} catch (err) {
  console.error(`budget: cannot read ${dist} (${err.code ?? err.message}); run \`npm run build\` first`);
  process.exit(1);
}
if (files.length === 0) {
  console.error(`budget: no .js files under ${dist}; run \`npm run build\` first`);
  process.exit(1);
}

let total = 0;
for (const file of files) {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 }).length;
  total += gz;
  console.log(`  ${relative(root, file)}: ${raw.length} B raw, ${gz} B gzip`);
}
const kb = (n) => (n / 1024).toFixed(1);
const line = `budget: ${files.length} JS file(s), ${total} B gzip (${kb(total)} KB) of ${limit} B (${kb(limit)} KB)`;
if (total > limit) {
  console.error(`${line}: OVER BUDGET by ${total - limit} B`);
  process.exit(1);
}
console.log(`${line}: ok`);
