import { describe, expect, it } from 'vitest';
import { CountersignClientError } from '../errors.js';
import { allowing, denying, gatewayDouble, header, stepFor, type RestartInput } from './adapter.contract.js';
import { isRefusal, runGuarded } from './tool-guard.js';

const call: RestartInput = { pool: 'payments-worker', strategy: 'rolling' };

describe('runGuarded', () => {
  it('throws a refusal the model can act on: same code and details, the reasons in its message', async () => {
    const gw = gatewayDouble(denying());
    let ran = false;
    const err: unknown = await runGuarded({ gateway: gw.client, header, step: stepFor }, call, async () => (ran = true)).catch((e: unknown) => e);
    expect(ran).toBe(false);
    expect(isRefusal(err)).toBe(true);
    expect(err).toMatchObject({ code: 'NOT_GRANTED', details: { effect: 'deny', reasons: ['PREREQUISITE_MISSING'] } });
    expect((err as Error).message).toBe('not run: NOT_GRANTED: step `workers.restart_pool` was not granted (`deny`); reasons: PREREQUISITE_MISSING');
    expect((err as Error).cause).toBeInstanceOf(CountersignClientError);
  });

  it('passes an error the tool threw through unchanged, even a CountersignClientError, and it is no refusal', async () => {
    const gw = gatewayDouble(allowing(call));
    const own = new CountersignClientError('UNREACHABLE', 'the tool called another gateway');
    const err: unknown = await runGuarded({ gateway: gw.client, header, step: stepFor }, call, () => Promise.reject(own)).catch((e: unknown) => e);
    expect(err).toBe(own);
    expect(isRefusal(err)).toBe(false);
    expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'failed', detail: 'CountersignClientError' });
  });

  it('proposes nothing and runs nothing when the step cannot be mapped', async () => {
    const gw = gatewayDouble(allowing(call));
    const bad = new TypeError('no such pool');
    let ran = false;
    const step = () => {
      throw bad;
    };
    await expect(runGuarded({ gateway: gw.client, header, step }, call, async () => (ran = true))).rejects.toBe(bad);
    expect(ran).toBe(false);
    expect(gw.calls).toEqual([]);
  });

  it('is no refusal when it is not an error from a guarded tool', () => {
    expect(isRefusal(new CountersignClientError('NOT_GRANTED', 'step `x` was not granted (`deny`)'))).toBe(false);
    expect(isRefusal(new Error('not run'))).toBe(false);
  });
});
