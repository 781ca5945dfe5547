import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ProposeReleaseResult } from '@countersign/core';
import { GatewayBench } from '../../../../test/helpers/gateway-bench.js';
import { caller, examplePolicy, inspectStep, PASSING_GOLDEN } from '../../../../test/scenario/world.js';
import { checkCandidate, releaseDiffReport, rememberReleaseDiff } from './release-check.js';

/**
 * A release's diff report is rebuilt from the ledger for each signer who
 * reads it, replaying every recorded decision on the thread that serves
 * HTTP. It never changes, so a process builds it once.
 */

const EXAMPLE = new URL('../../../../examples/payments/policy.yaml', import.meta.url);
const benches: GatewayBench[] = [];
afterEach(async () => {
  for (const b of benches.splice(0)) await b.close();
});

async function proposed(): Promise<{ b: GatewayBench; releaseId: string }> {
  const b = await GatewayBench.open(examplePolicy());
  benches.push(b);
  for (let i = 0; i < 3; i++) await b.ok(() => b.propose([inspectStep()]));
  const yaml = readFileSync(EXAMPLE, 'utf8').replace(/^description: .*$/m, 'description: the same rules, released again');
  const active = b.gateway.policy;
  if (active === null) throw new Error('the bench serves a policy');
  const checked = await checkCandidate(b.store, active, yaml, []);
  const result = await b.ok<ProposeReleaseResult>((g) => g.proposeRelease(caller('priya', 'approver-console'), { candidate: checked.candidate, golden: PASSING_GOLDEN, goldenFiles: [], diff: checked.diff }));
  return { b, releaseId: result.release };
}

describe('releaseDiffReport', () => {
  it('rebuilds a release diff from the ledger once, then answers from what it kept', async () => {
    const { b, releaseId } = await proposed();
    const release = b.gateway.state.releases.get(releaseId);
    if (!release) throw new Error('the release was recorded');
    const read = vi.spyOn(b.store, 'read');
    const first = await releaseDiffReport(b.store, b.gateway.state, release);
    expect(first?.digest).toBe(release.diff.digest);
    expect(first?.replay?.counts.decisions).toBe(3);
    expect(read).toHaveBeenCalledTimes(1);
    expect(await releaseDiffReport(b.store, b.gateway.state, release)).toBe(first);
    expect(read).toHaveBeenCalledTimes(1);
    // another store (a replica) rebuilds its own
    expect((await releaseDiffReport(b.reader, b.gateway.state, release))?.digest).toBe(release.diff.digest);
  });

  it('keeps the newest sixteen: a report pushed out is rebuilt, and one kept under another digest is not shown', async () => {
    const { b, releaseId } = await proposed();
    const release = b.gateway.state.releases.get(releaseId);
    if (!release) throw new Error('the release was recorded');
    const built = await releaseDiffReport(b.store, b.gateway.state, release);
    if (built === null) throw new Error('the diff rebuilds');
    const read = vi.spyOn(b.store, 'read');
    for (let i = 0; i < 15; i++) rememberReleaseDiff(b.store, `release-other-${i}`, built);
    expect(await releaseDiffReport(b.store, b.gateway.state, release)).toBe(built);
    expect(read).toHaveBeenCalledTimes(0);
    for (let i = 15; i < 31; i++) rememberReleaseDiff(b.store, `release-other-${i}`, built);
    expect((await releaseDiffReport(b.store, b.gateway.state, release))?.digest).toBe(release.diff.digest);
    expect(read).toHaveBeenCalledTimes(1);
    // a report kept under the id but another digest is never shown for it: rebuilt from the ledger instead
    rememberReleaseDiff(b.store, release.id, { ...built, digest: `sha256:${'0'.repeat(64)}` });
    expect((await releaseDiffReport(b.store, b.gateway.state, release))?.digest).toBe(release.diff.digest);
    expect(read).toHaveBeenCalledTimes(2);
  });
});
