/**
 * The bounded building blocks of request bodies live in the contract (ADR 005),
 * where the client reads them too; they are re-exported here for the routes.
 */
export { Digest, Id, ID_MAX_LENGTH, IdParams, Instant, LongText, Names, ShortText } from '@countersign/client/contract';

/** The object without its undefined fields: zod's optional output meets `exactOptionalPropertyTypes`. */
export function defined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
