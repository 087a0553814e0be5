// Pure helpers of the Jobs view (kept out of the component so that they are easy to test).
import type { JobRecord, JobStatus } from '../api/client';
import type { Tone } from '../components/StateBadge.vue';

export const KINDS = ['sleep', 'cpu', 'flaky', 'checksum', 'http-probe'] as const;
export type Kind = (typeof KINDS)[number];

export const KIND_HELP: Record<Kind, string> = {
  sleep: 'Waits for a while, then succeeds.',
  cpu: 'Burns a CPU core for a while (autoscaling labs).',
  flaky: 'Fails with probability p; retried with backoff, then dead-lettered.',
  checksum: 'Stores your text as a blob (PUT /store), then a job verifies its SHA-256.',
  'http-probe': 'A synthetic check: the worker GETs an http:// URL and records status and latency.',
};

const RANK: Record<JobStatus, number> = { queued: 0, running: 1, failed: 2, succeeded: 3, dead: 3 };

/** Of two copies of one job (seen in two state lists during a transition), the later one. */
export function later(a: JobRecord, b: JobRecord): JobRecord {
  const sa = a.started_at_ms ?? 0;
  const sb = b.started_at_ms ?? 0;
  if (sa !== sb) return sa > sb ? a : b;
  return RANK[b.status] > RANK[a.status] ? b : a;
}

/** Jobs of several lists, one per id, newest first. */
export function mergeJobs(lists: JobRecord[][]): JobRecord[] {
  const byId = new Map<string, JobRecord>();
  for (const list of lists) {
    for (const job of list) {
      const seen = byId.get(job.id);
      byId.set(job.id, seen ? later(seen, job) : job);
    }
  }
  return [...byId.values()].sort(
    (a, b) => b.enqueued_at_ms - a.enqueued_at_ms || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  );
}

export function statusTone(status: JobStatus): Tone {
  switch (status) {
    case 'succeeded':
      return 'ok';
    case 'dead':
      return 'bad';
    case 'failed':
      return 'warn';
    case 'running':
      return 'info';
    default:
      return 'neutral';
  }
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

/** The result or the last error, in one short line. */
export function outcome(job: JobRecord): string {
  if (job.status === 'succeeded' && job.result !== undefined && job.result !== null) {
    return JSON.stringify(job.result);
  }
  return job.last_error ?? '';
}
