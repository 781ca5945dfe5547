import type { AppendBuilder, AppendOptions, AppendWithResult, TransactionalLedgerStore } from '../../packages/core/src/ledger/store.js';

/** `inner` with its `appendWith` replaced; every other member is the store's own, bound to it. */
export function withAppendWith(
  inner: TransactionalLedgerStore,
  appendWith: (target: TransactionalLedgerStore, knownSize: number, build: AppendBuilder, options?: AppendOptions) => Promise<AppendWithResult>,
): TransactionalLedgerStore {
  return new Proxy(inner, {
    get: (target, prop, receiver) => {
      if (prop === 'appendWith') return (knownSize: number, build: AppendBuilder, options?: AppendOptions) => appendWith(target, knownSize, build, options);
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
