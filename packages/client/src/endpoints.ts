import { ENDPOINTS, queryNames, type Endpoint, type EndpointName } from './contract/index.js';
import { CountersignClientError } from './errors.js';

/**
 * The HTTP contract between this SDK and the gateway is the contract's one
 * table (`ENDPOINTS` of @countersign/client/contract, ADR 005): method, path
 * (`{name}` is a path parameter, percent-encoded), the gateway operation that
 * authorizes it, and the zod schemas of its query, body and answer. The
 * gateway serves its routes from the same objects; test/client-routes.test.ts
 * holds the routes a real gateway registers to it, both ways.
 */
export { ENDPOINTS, type Endpoint, type EndpointName };

/**
 * Fill `{name}` placeholders and append the endpoint's optional query
 * parameters that are given, in the contract's order; values are
 * percent-encoded so an id can never add a path segment or a query.
 */
export function endpointUrl(server: string, name: EndpointName, params: Readonly<Record<string, string | number | undefined>> = {}): string {
  const endpoint: Endpoint = ENDPOINTS[name];
  const path = endpoint.path.replace(/\{([a-z]+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new CountersignClientError('USAGE', `endpoint \`${name}\` needs \`${key}\``);
    return encodeURIComponent(String(value));
  });
  const query = queryNames(endpoint).flatMap((key) => {
    const value = params[key];
    return value === undefined ? [] : [`${key}=${encodeURIComponent(String(value))}`];
  });
  return `${server.replace(/\/+$/, '')}${path}${query.length === 0 ? '' : `?${query.join('&')}`}`;
}
