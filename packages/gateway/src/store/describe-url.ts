/**
 * `host:port/database` of a PostgreSQL connection URL, for messages; never
 * credentials. Apart from the store so that callers need not load `pg`.
 */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname || '/'}`;
  } catch {
    return 'the configured server';
  }
}
