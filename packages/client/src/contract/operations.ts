import { z } from 'zod';
import { endpoint } from './endpoint.js';

export const Health = z.object({ status: z.literal('ok') });
export type Health = z.output<typeof Health>;

export const Readiness = z.object({ status: z.literal('ready'), ledger_size: z.number().int(), bundle_id: z.string() });
export type Readiness = z.output<typeof Readiness>;

/**
 * Unauthenticated operational endpoints. `/metrics` carries counts and
 * latencies, no ids, tokens or payloads, for a scraper (its own token when the
 * operator sets one, never a Countersign credential); the gateway serves it
 * only with metrics enabled.
 */
export const OPERATION_ENDPOINTS = {
  health: endpoint({
    method: 'GET',
    path: '/healthz',
    summary: 'the process is up',
    tag: 'operations',
    operation: null,
    response: Health,
  }),
  ready: endpoint({
    method: 'GET',
    path: '/readyz',
    summary: 'ready only when the ledger store takes writes, the gateway key signs and the active bundle is loaded',
    tag: 'operations',
    operation: null,
    response: Readiness,
  }),
  metrics: endpoint({
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics (text exposition format)',
    tag: 'operations',
    operation: null,
    response: z.string(),
    stream: { contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  }),
};
