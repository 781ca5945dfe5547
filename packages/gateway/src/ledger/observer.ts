/** The event a hook of type `H` (an optional one-argument observer method) takes. */
type HookEvent<H> = NonNullable<H> extends (event: infer E) => void ? E : never;

/**
 * Call `observer[hook]` with `event`, synchronously, if the observer has that
 * hook. A hook that throws is ignored: observers are metrics and tracing
 * (`SequencerObserver`), attached from outside the sequencers.
 */
export function notify<O extends object, K extends keyof O>(observer: O, hook: K, event: HookEvent<O[K]>): void {
  const fn = observer[hook] as ((event: HookEvent<O[K]>) => void) | undefined;
  if (fn === undefined) return;
  try {
    fn.call(observer, event);
  } catch {
    // observers are metrics: they never decide whether an entry was written
  }
}
