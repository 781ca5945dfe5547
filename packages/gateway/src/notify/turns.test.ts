import { describe, expect, it } from 'vitest';
import { Turns } from './turns.js';

describe('Turns', () => {
  it('runs at most max pieces for one key at once, in the order they came, each key on its own', async () => {
    const turns = new Turns(2);
    const underWay = new Map<string, number>();
    const most = new Map<string, number>();
    const started: string[] = [];
    const piece = (key: string, i: number) =>
      turns.run(key, async () => {
        started.push(`${key}${i}`);
        underWay.set(key, (underWay.get(key) ?? 0) + 1);
        most.set(key, Math.max(most.get(key) ?? 0, underWay.get(key) ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 2));
        underWay.set(key, (underWay.get(key) ?? 0) - 1);
        return i;
      });
    const results = await Promise.all([...Array.from({ length: 6 }, (_, i) => piece('a', i)), ...Array.from({ length: 3 }, (_, i) => piece('b', i))]);
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 0, 1, 2]);
    expect([most.get('a'), most.get('b')]).toEqual([2, 2]);
    expect(started.filter((s) => s.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
  });

  it('hands the place on when a piece fails', async () => {
    const turns = new Turns(1);
    const failed = turns.run('a', () => Promise.reject(new Error('receiver down')));
    const next = turns.run('a', () => Promise.resolve('delivered'));
    await expect(failed).rejects.toThrow('receiver down');
    await expect(next).resolves.toBe('delivered');
  });
});
