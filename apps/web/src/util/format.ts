/** `93784` → `1d 2h 3m 4s`; leading zero units are left out. */
export function formatUptime(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const parts: string[] = [];
  const units: Array<[number, string]> = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
  ];
  let rest = s;
  for (const [size, unit] of units) {
    const n = Math.floor(rest / size);
    rest %= size;
    if (n > 0 || parts.length > 0) parts.push(`${n}${unit}`);
  }
  parts.push(`${rest}s`);
  return parts.join(' ');
}

export function formatMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** Local time of a Unix-ms timestamp, e.g. `14:03:07`. */
export function formatClock(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/** A CSS color the api reported, or null if it is not a plain hex/name color. */
export function safeColor(value: string): string | null {
  const v = value.trim();
  return /^#[0-9a-fA-F]{3,8}$/.test(v) || /^[a-zA-Z]{3,20}$/.test(v) ? v : null;
}
