// Load and measurement pieces the HTTP parts share (bench/http.js, bench/tail.js).
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { percentile } from './stats.js';

/**
 * Open-loop load at a fixed rate: request i is due at `start + i / rate` and
 * is sent on the first timer tick at or after that, however many are still
 * unanswered (they queue in the pool when all connections are busy). Its
 * latency runs from when it was due to when its whole answer has been read,
 * so time spent queued behind a slow answer counts.
 */
export async function paced({ url, method, headers, body, rate, duration, connections }) {
  const { origin, pathname } = new URL(url);
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const total = Math.round(rate * duration);
  const latencies = [];
  let ok = 0;
  let badStatus = 0;
  let errors = 0;
  let sent = 0;
  let settled = 0;
  let last = 0;
  const start = performance.now();
  await new Promise((resolve) => {
    const settle = () => {
      last = performance.now();
      if (++settled === total) resolve();
    };
    const send = (due) => {
      pool.request({ path: pathname, method, headers, body }).then(
        async (res) => {
          await res.body.text();
          if (res.statusCode >= 200 && res.statusCode < 300) {
            ok++;
            latencies.push(performance.now() - due);
          } else badStatus++;
          settle();
        },
        () => {
          errors++;
          settle();
        },
      );
    };
    const tick = () => {
      const now = performance.now();
      const dueNow = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      while (sent < dueNow) send(start + (sent++ * 1000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  await pool.close();
  return { rps: total / ((last - start) / 1000), ok, bad: badStatus, errors, ...quantiles(latencies) };
}

export function quantiles(latencies) {
  latencies.sort((a, b) => a - b);
  const at = (p) => percentile(latencies, p) ?? Number.NaN;
  return { p50: at(50), p99: at(99), p999: at(99.9), max: latencies.at(-1) ?? Number.NaN };
}

/** The gateway's heap in use (garbage included) and its collections so far, from its /metrics; null when unread. */
export async function gcFigures(url) {
  // a gateway started with COUNTERSIGN_METRICS_TOKEN (serve passes it on) wants it here too
  const token = process.env.COUNTERSIGN_METRICS_TOKEN;
  let text;
  try {
    const res = await fetch(`${url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    if (!res.ok) return null;
    text = await res.text();
  } catch {
    return null;
  }
  // a series appears with its first collection of that kind: absent is none yet
  const value = (name, absent) => {
    const found = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return found ? Number(found[1]) : absent;
  };
  const heap = value('nodejs_heap_size_used_bytes', null);
  if (heap === null) return null;
  return {
    heapMb: heap / 1e6,
    majors: value('nodejs_gc_duration_seconds_count\\{kind="major"\\}', 0),
    majorS: value('nodejs_gc_duration_seconds_sum\\{kind="major"\\}', 0),
    incrementalS: value('nodejs_gc_duration_seconds_sum\\{kind="incremental"\\}', 0),
  };
}
