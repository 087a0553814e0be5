// A small parser of the Prometheus text exposition format (0.0.4) and the few figures the Metrics
// view shows: request rate, 5xx ratio and p99 latency, from `http_request_duration_seconds_*`.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(text: string): number {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      const n = Number(text);
      if (text === '' || Number.isNaN(n)) throw new Error(`not a number: ${JSON.stringify(text)}`);
      return n;
    }
  }
}

/** Parse `{a="x",b="y\"z"}` starting at `text[start] === '{'`; returns labels and the index after `}`. */
function parseLabels(text: string, start: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    while (text[i] === ' ' || text[i] === ',') i++;
    if (text[i] === '}') return [labels, i + 1];
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error('label without "="');
    const name = text.slice(i, eq).trim();
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`bad label name ${JSON.stringify(name)}`);
    i = eq + 1;
    if (text[i] !== '"') throw new Error(`label ${name}: value not quoted`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) throw new Error(`label ${name}: unterminated value`);
      if (c === '"') break;
      if (c === '\\') {
        const next = text[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    labels[name] = value;
    i++;
  }
}

/**
 * Every sample of a text exposition. Comments (`# HELP`, `# TYPE`) and blank lines are skipped;
 * a malformed line throws with its line number.
 */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      const nameEnd = line.search(/[{\s]/);
      if (nameEnd <= 0) throw new Error('no value');
      const name = line.slice(0, nameEnd);
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${JSON.stringify(name)}`);
      let labels: Record<string, string> = {};
      let rest = nameEnd;
      if (line[nameEnd] === '{') [labels, rest] = parseLabels(line, nameEnd);
      // value, then an optional timestamp (ignored); OpenMetrics exemplars (` # {…}`) too.
      const fields = line.slice(rest).split('#')[0]!.trim().split(/\s+/);
      samples.push({ name, labels, value: parseValue(fields[0] ?? '') });
    } catch (err) {
      throw new Error(`metrics line ${index + 1}: ${(err as Error).message}`);
    }
  });
  return samples;
}

/** Cumulative histogram buckets: upper bound `le` (Infinity last) and count, sorted by `le`. */
export type Buckets = Array<{ le: number; count: number }>;

/**
 * The `q`-quantile of a cumulative histogram, as PromQL's `histogram_quantile`: linear
 * interpolation inside the bucket holding the rank; the lower bound of the first bucket is 0; a
 * rank in the +Inf bucket gives the largest finite bound. `null` without observations.
 */
export function histogramQuantile(q: number, buckets: Buckets): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const last = sorted[sorted.length - 1];
  if (!last || last.le !== Infinity || last.count <= 0 || q < 0 || q > 1) return null;
  const rank = q * last.count;
  let prevLe = 0;
  let prevCount = 0;
  for (const { le, count } of sorted) {
    if (count >= rank && count > prevCount) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The request figures of one scrape, summed over every series that passes the filter. */
export interface RequestTotals {
  /** Unix ms of the scrape. */
  at: number;
  requests: number;
  /** Requests answered 5xx. */
  errors: number;
  buckets: Buckets;
  /** `[method, path]` → requests and 5xx. */
  routes: Map<string, { method: string; path: string; requests: number; errors: number }>;
}

export interface TotalsOptions {
  /** Leave out series whose `path` label is one of these (e.g. the UI's own `/metrics` scrapes). */
  excludePaths?: readonly string[];
}

const DURATION = 'http_request_duration_seconds';

export function requestTotals(samples: Sample[], at: number, options: TotalsOptions = {}): RequestTotals {
  const exclude = new Set(options.excludePaths ?? []);
  const buckets = new Map<number, number>();
  const routes: RequestTotals['routes'] = new Map();
  let requests = 0;
  let errors = 0;
  for (const s of samples) {
    if (exclude.has(s.labels.path ?? '')) continue;
    if (s.name === `${DURATION}_count`) {
      const isError = /^5\d\d$/.test(s.labels.status ?? '');
      requests += s.value;
      if (isError) errors += s.value;
      const method = s.labels.method ?? '';
      const path = s.labels.path ?? '';
      const key = `${method} ${path}`;
      const route = routes.get(key) ?? { method, path, requests: 0, errors: 0 };
      route.requests += s.value;
      if (isError) route.errors += s.value;
      routes.set(key, route);
    } else if (s.name === `${DURATION}_bucket` && s.labels.le !== undefined) {
      const le = parseValue(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    }
  }
  return {
    at,
    requests,
    errors,
    buckets: [...buckets].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le),
    routes,
  };
}

/** Figures over a window: between two scrapes, or since the api started. */
export interface WindowStats {
  at: number;
  seconds: number;
  requests: number;
  /** Requests per second; `null` for a window of no length. */
  rate: number | null;
  /** 5xx / all; `null` without requests. */
  errorRatio: number | null;
  /** Seconds; `null` without requests. */
  p99: number | null;
}

/** Since the api started (cumulative counters). */
export function cumulativeStats(cur: RequestTotals): WindowStats {
  return {
    at: cur.at,
    seconds: 0,
    requests: cur.requests,
    rate: null,
    errorRatio: cur.requests > 0 ? cur.errors / cur.requests : null,
    p99: histogramQuantile(0.99, cur.buckets),
  };
}

/**
 * Between two scrapes, as `rate()` and `histogram_quantile(0.99, rate(..._bucket))` would. A
 * counter that went down (the api restarted) counts from zero.
 */
export function windowStats(prev: RequestTotals, cur: RequestTotals): WindowStats {
  const reset = cur.requests < prev.requests || cur.errors < prev.errors;
  const requests = reset ? cur.requests : cur.requests - prev.requests;
  const errors = reset ? cur.errors : cur.errors - prev.errors;
  const before = new Map(prev.buckets.map((b) => [b.le, b.count]));
  const buckets = cur.buckets.map(({ le, count }) => ({
    le,
    count: reset ? count : Math.max(0, count - (before.get(le) ?? 0)),
  }));
  const seconds = (cur.at - prev.at) / 1000;
  return {
    at: cur.at,
    seconds,
    requests,
    rate: seconds > 0 ? requests / seconds : null,
    errorRatio: requests > 0 ? errors / requests : null,
    p99: requests > 0 ? histogramQuantile(0.99, buckets) : null,
  };
}

export function formatRate(rate: number | null): string {
  if (rate === null) return '—';
  return `${rate < 10 ? rate.toFixed(2) : rate.toFixed(1)} req/s`;
}

export function formatRatio(ratio: number | null): string {
  if (ratio === null) return '—';
  return `${(ratio * 100).toFixed(ratio > 0 && ratio < 0.01 ? 2 : 1)} %`;
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
  return `${seconds.toFixed(2)} s`;
}
