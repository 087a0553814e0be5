#!/usr/bin/env node
// Generate src/api/schema.d.ts (openapi-typescript) from the api's OpenAPI snapshot.
//
//   node scripts/gen-api.mjs           write src/api/schema.d.ts
//   node scripts/gen-api.mjs --check   generate into a temp dir; exit 1 if it differs from the
//                                      committed file (the api's contract changed: run gen:api,
//                                      then fix what no longer type-checks)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readOpenapi, uniqueOperationIds } from './openapi-from-snapshot.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const committed = join(root, 'src/api/schema.d.ts');
const check = process.argv.includes('--check');
const bin = join(root, 'node_modules/.bin/openapi-typescript');

const dir = mkdtempSync(join(tmpdir(), 'blueprint-web-api-'));
try {
  const json = join(dir, 'openapi.json');
  const doc = readOpenapi();
  const renamed = uniqueOperationIds(doc);
  if (renamed.length > 0) {
    console.warn(
      `note: the api's OpenAPI document reuses operationIds across paths; renamed for typing:\n  ${renamed.join('\n  ')}`,
    );
  }
  writeFileSync(json, JSON.stringify(doc, null, 2));
  const out = check ? join(dir, 'schema.d.ts') : committed;
  const run = spawnSync(bin, [json, '--output', out], { stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.error || run.status !== 0) {
    console.error(`openapi-typescript failed: ${run.error?.message ?? `exit ${run.status}`}`);
    process.exit(1);
  }
  if (!check) {
    console.log(`wrote ${committed}`);
  } else {
    let old = '';
    try {
      old = readFileSync(committed, 'utf8');
    } catch {
      // a missing file is a difference
    }
    if (old !== readFileSync(out, 'utf8')) {
      console.error(
        'check:api: src/api/schema.d.ts is out of date with the api contract ' +
          '(apps/api/tests/it/snapshots/it__routes__openapi.snap).\n' +
          'Run `npm run gen:api`, then `npm run typecheck` and fix what the change broke.',
      );
      const diff = spawnSync('diff', ['-u', committed, out], { encoding: 'utf8' });
      if (diff.stdout) console.error(diff.stdout.split('\n').slice(0, 80).join('\n'));
      process.exit(1);
    }
    console.log('check:api: src/api/schema.d.ts matches the api contract');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
