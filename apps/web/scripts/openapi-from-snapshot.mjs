#!/usr/bin/env node
// Extract the OpenAPI document from the api's insta snapshot.
//
// The snapshot (apps/api/tests/it/snapshots/it__routes__openapi.snap) is a YAML header between two
// `---` lines followed by the JSON document the api serves at /openapi.json. The api's tests fail
// when the document changes without the snapshot being accepted, so the snapshot is the contract.
//
// Usage: node scripts/openapi-from-snapshot.mjs [--snapshot PATH] [--out FILE]   (stdout without --out)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_SNAPSHOT = resolve(
  here,
  '../../api/tests/it/snapshots/it__routes__openapi.snap',
);

/** The JSON text after the snapshot's `---` header, parsed (so a broken snapshot fails here). */
export function openapiFromSnapshot(text) {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== '---') {
    throw new Error('not an insta snapshot: the first line is not "---"');
  }
  const end = lines.indexOf('---', 1);
  if (end < 0) {
    throw new Error('not an insta snapshot: no closing "---" after the header');
  }
  const doc = JSON.parse(lines.slice(end + 1).join('\n'));
  if (typeof doc.openapi !== 'string' || typeof doc.paths !== 'object') {
    throw new Error('the snapshot body is JSON but not an OpenAPI document');
  }
  return doc;
}

export function readOpenapi(snapshot = DEFAULT_SNAPSHOT) {
  return openapiFromSnapshot(readFileSync(snapshot, 'utf8'));
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Give every path its own operationIds. openapi-typescript types each operation as
 * `operations[operationId]`; when two paths share an id (the api names both `/cache/{key}` and
 * `/store` handlers `write`), the second path silently gets the first one's types. An id used on
 * several paths becomes `<id>__<path>` (e.g. `write__store`); methods of one path sharing an id
 * (one handler for GET and POST) keep it. Returns the renamed ids, so that callers can warn.
 */
export function uniqueOperationIds(doc) {
  const paths = new Map();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const id = item?.[method]?.operationId;
      if (id) paths.set(id, new Set([...(paths.get(id) ?? []), path]));
    }
  }
  const renamed = [];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item?.[method];
      if (op?.operationId && paths.get(op.operationId).size > 1) {
        const suffix = path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '');
        renamed.push(`${method.toUpperCase()} ${path}: ${op.operationId} → ${op.operationId}__${suffix}`);
        op.operationId = `${op.operationId}__${suffix}`;
      }
    }
  }
  return renamed;
}

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const doc = readOpenapi(arg('--snapshot') ?? DEFAULT_SNAPSHOT);
    const json = `${JSON.stringify(doc, null, 2)}\n`;
    const out = arg('--out');
    if (out) writeFileSync(out, json);
    else process.stdout.write(json);
  } catch (err) {
    console.error(`openapi-from-snapshot: ${err.message}`);
    process.exit(1);
  }
}
