// Benchmark: decide() against generated bundles of 100, 1,000 and 10,000
// action contracts, and @cedar-policy/cedar-wasm on an equivalent policy set
// for the same requests, in the same process.
//
//   npm run bench            (builds, then runs every part)
//   node bench/run.js decide (this part only; needs `npm run build` first)
//
// A script that prints figures, never a test that asserts a time (STYLE.md).
// Targets (issue 2): p99 <= 20 µs at 10,000 contracts, flat in the number of
// contracts, >= 20x Cedar's throughput.
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compilePolicy, decide, policyBundleId, PolicyBundle } from '../packages/core/dist/index.js';
import { int, percentile } from './stats.js';

const SIZES = [100, 1_000, 10_000];
const ENVIRONMENTS = ['dev', 'staging', 'prod'];
const REQUESTS = 4_096; // a power of two: requests are picked with a mask
const NOW = Date.parse('2026-05-15T09:16:00Z');
const SNAPSHOT_WINDOW_MS = 30 * 60_000;

// A small deterministic PRNG (mulberry32), so every run decides the same requests.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const actionId = (i) => `svc${String(i).padStart(5, '0')}.op`;

/**
 * One contract per action. Every third is destructive with a prerequisite in
 * every environment and a prod risk that requires two keys; every tenth
 * denies prod outright; writes carry a target pattern and a closed parameter.
 */
function contract(i) {
  const kind = i % 3;
  const prodRisk = i % 10 === 0 ? 'forbidden' : kind === 2 ? 'critical' : kind === 1 ? 'high' : 'low';
  return {
    id: actionId(i),
    class: kind === 0 ? 'read' : kind === 1 ? 'write' : 'destructive',
    risk: { dev: 'low', staging: kind === 0 ? 'low' : 'high', prod: prodRisk },
    ...(kind === 0 ? {} : { target_pattern: '[a-z0-9][a-z0-9-]{0,62}' }),
    ...(kind === 1 ? { params: { strategy: { type: 'string', allow: ['rolling', 'immediate'] } } } : {}),
    ...(kind === 2 ? { requires_prior: [{ action: `snap${String(i).padStart(5, '0')}.take`, within: '30m' }] } : {}),
  };
}

function generateBundle(size) {
  return PolicyBundle.parse({
    version: 1,
    name: `bench-${size}`,
    environments: ENVIRONMENTS,
    surfaces: [{ id: 'copilot-console' }, { id: 'approver-console' }],
    roles: ['lead', 'owner'],
    principals: [
      { id: 'bench-agent', kind: 'agent' },
      { id: 'olivia', kind: 'human' },
    ],
    risk_classes: [
      { id: 'low', effect: 'allow' },
      { id: 'high', effect: 'require_approval', approval: { quorum: [{ roles: ['lead'] }], surfaces: ['approver-console'] } },
      { id: 'critical', effect: 'require_approval', approval: { quorum: [{ roles: ['lead'] }, { roles: ['owner'] }], surfaces: ['approver-console'], attestation: 'key' } },
      { id: 'forbidden', effect: 'deny' },
    ],
    actions: Array.from({ length: size }, (_, i) => contract(i)),
  });
}

/**
 * The equivalent Cedar policy set: one policy per contract, keyed on action
 * and environment, carrying the prerequisite window as a context condition;
 * a forbid where the contract denies prod. Cedar answers allow or deny only:
 * require_approval is a permit here, so Cedar does strictly less work.
 */
function cedarPolicies(size) {
  const policies = {};
  for (let i = 0; i < size; i++) {
    const c = contract(i);
    const envs = ENVIRONMENTS.filter((e) => c.risk[e] !== 'forbidden').map((e) => `context.environment == "${e}"`).join(' || ');
    const prior = c.requires_prior ? ` && context.prior_age_ms <= ${SNAPSHOT_WINDOW_MS}` : '';
    policies[`permit-${c.id}`] = `permit(principal, action == Action::"${c.id}", resource) when { (${envs})${prior} };`;
    if (c.risk.prod === 'forbidden') {
      policies[`forbid-${c.id}`] = `forbid(principal, action == Action::"${c.id}", resource) when { context.environment == "prod" };`;
    }
  }
  return policies;
}

/** The same requests for both engines: mostly valid, some misspelled environments and unknown actions. */
function generateRequests(size, random) {
  const requests = [];
  for (let n = 0; n < REQUESTS; n++) {
    const i = Math.floor(random() * size);
    const roll = random();
    const environment = roll < 0.02 ? 'Prod' : ENVIRONMENTS[Math.floor(random() * 3)];
    const action = roll > 0.99 ? `unknown${i}.op` : actionId(i);
    const kind = i % 3;
    const step = {
      action,
      environment,
      target: `pool-${i % 97}`,
      params: kind === 1 ? { strategy: random() < 0.95 ? 'rolling' : 'yolo' } : {},
    };
    const priorAge = random() < 0.7 ? 10 * 60_000 : 45 * 60_000;
    requests.push({ step, priorAge });
  }
  return requests;
}

function decisionState(requests) {
  const executions = new Map();
  for (const { step, priorAge } of requests) {
    executions.set(`${step.action.replace(/^svc/, 'snap').replace(/\.op$/, '.take')}|${step.environment}|${step.target}`, NOW - priorAge);
  }
  return {
    // one open hold whose scope misses most requests: its cost is in every decision
    holds: [{ id: 'hold-1', trip_gate: 'K1', scope: { environments: ['staging'], actions: [actionId(1)] } }],
    lastSucceeded: (action, environment, target) => executions.get(`${action}|${environment}|${target}`),
  };
}

/** Per-call latency (ns) with hrtime around each call, after warm-up; then throughput in a tight loop. */
function measure(fn, requests, { warmup, iterations, throughputIterations }) {
  const mask = requests.length - 1;
  for (let i = 0; i < warmup; i++) fn(requests[i & mask]);
  const samples = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const r = requests[i & mask];
    const t0 = process.hrtime.bigint();
    fn(r);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < throughputIterations; i++) fn(requests[i & mask]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { p50: percentile(sorted, 50) / 1e3, p99: percentile(sorted, 99) / 1e3, perSecond: throughputIterations / seconds };
}

function timerOverheadNs() {
  const samples = new Float64Array(100_000);
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  // Array#sort, not Float64Array#sort: the latter crashed V8 (node 20.20, deoptimizer "unreachable code") in this script
  return percentile(Array.from(samples).sort((a, b) => a - b), 50);
}

const fmt = (n, digits = 2) => n.toFixed(digits);

export function run() {
  const rows = [];
  for (const size of SIZES) {
    const bundle = generateBundle(size);
    const bundleId = policyBundleId(bundle);
    const c0 = process.hrtime.bigint();
    const compiled = compilePolicy(bundle, bundleId);
    const compileMs = Number(process.hrtime.bigint() - c0) / 1e6;

    const requests = generateRequests(size, prng(size));
    const state = decisionState(requests);
    const effects = {};
    for (const { step } of requests) {
      const e = decide(compiled, step, state, NOW).effect;
      effects[e] = (effects[e] ?? 0) + 1;
    }
    process.stderr.write(`size ${size}: compiled in ${compileMs.toFixed(1)} ms, measuring decide()\n`);
    const ours = measure((r) => decide(compiled, r.step, state, NOW), requests, { warmup: 50_000, iterations: 200_000, throughputIterations: 200_000 });

    process.stderr.write(`size ${size}: decide p50 ${ours.p50} µs; preparsing for cedar\n`);
    const setId = `bench-${size}`;
    const p0 = process.hrtime.bigint();
    const parsed = cedar.preparsePolicySet(setId, { staticPolicies: cedarPolicies(size) });
    const preparseMs = Number(process.hrtime.bigint() - p0) / 1e6;
    if (parsed.type !== 'success') throw new Error(`cedar rejected the policy set: ${JSON.stringify(parsed.errors[0])}`);
    const cedarCall = (r) => {
      const answer = cedar.statefulIsAuthorized({
        principal: { type: 'Agent', id: 'bench-agent' },
        action: { type: 'Action', id: r.step.action },
        resource: { type: 'Target', id: r.step.target },
        context: { environment: r.step.environment, prior_age_ms: r.priorAge },
        preparsedPolicySetId: setId,
        entities: [],
      });
      if (answer.type !== 'success') throw new Error('cedar evaluation failed');
      return answer.response.decision;
    };
    // Cedar evaluates every policy in the set, so its cost per call grows with
    // the set: size its runs from a probe to about 3 s per phase
    const probeStart = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) cedarCall(requests[i]);
    const probeNs = Number(process.hrtime.bigint() - probeStart) / 20;
    const cedarIterations = Math.max(100, Math.min(20_000, Math.floor(3e9 / probeNs)));
    const theirs = measure(cedarCall, requests, { warmup: Math.min(1_000, cedarIterations), iterations: cedarIterations, throughputIterations: cedarIterations });
    theirs.iterations = cedarIterations;

    // The same bundle with requests over its first 100 contracts only: what a
    // decision costs when the rules it touches are in cache, which separates
    // the algorithm (indexed, flat) from memory locality (random access over
    // all contracts)
    const hotRequests = generateRequests(Math.min(size, 100), prng(size + 1));
    const hotState = decisionState(hotRequests);
    const hot = measure((r) => decide(compiled, r.step, hotState, NOW), hotRequests, { warmup: 50_000, iterations: 200_000, throughputIterations: 1 });
    rows.push({ size, compileMs, preparseMs, ours, hot, theirs, effects });
  }

  const overhead = timerOverheadNs();
  const lines = [
    '',
    `decide() vs @cedar-policy/cedar-wasm ${cedar.getCedarVersion()} (preparsePolicySet + statefulIsAuthorized), node ${process.version}, one core`,
    `${REQUESTS} distinct requests per size; per-call timing includes ~${int(overhead)} ns of hrtime overhead`,
    '',
    'contracts | compile ms | decide p50 µs | decide p99 µs | decisions/s | hot-100 p50 µs | cedar preparse ms | cedar calls | cedar p50 µs | cedar p99 µs | cedar decisions/s | throughput ratio',
    '--------- | ---------- | ------------- | ------------- | ----------- | -------------- | ----------------- | ----------- | ------------ | ------------ | ----------------- | ----------------',
  ];
  for (const r of rows) {
    lines.push(
      [
        int(r.size).padStart(9),
        fmt(r.compileMs, 1).padStart(10),
        fmt(r.ours.p50).padStart(13),
        fmt(r.ours.p99).padStart(13),
        int(r.ours.perSecond).padStart(11),
        fmt(r.hot.p50).padStart(14),
        fmt(r.preparseMs, 1).padStart(17),
        int(r.theirs.iterations).padStart(11),
        fmt(r.theirs.p50).padStart(12),
        fmt(r.theirs.p99).padStart(12),
        int(r.theirs.perSecond).padStart(17),
        `${fmt(r.ours.perSecond / r.theirs.perSecond, 1)}x`.padStart(16),
      ].join(' | '),
    );
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  lines.push('');
  lines.push(`effects decided (per ${REQUESTS} requests, ${int(last.size)} contracts): ${JSON.stringify(last.effects)}`);
  lines.push(
    `targets: p99 at ${int(last.size)} contracts ${fmt(last.ours.p99)} µs (target <= 20) ${last.ours.p99 <= 20 ? 'met' : 'MISSED'}; ` +
      `p50 ${int(first.size)} -> ${int(last.size)} contracts x${fmt(last.ours.p50 / first.ours.p50)} over all contracts, x${fmt(last.hot.p50 / first.hot.p50)} over 100 hot ones (flat is ~1); ` +
      `throughput vs Cedar ${fmt(Math.min(...rows.map((r) => r.ours.perSecond / r.theirs.perSecond)), 1)}x at worst (target >= 20) ` +
      `${rows.every((r) => r.ours.perSecond / r.theirs.perSecond >= 20) ? 'met' : 'MISSED'}`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) run();
