import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  compilePolicy,
  decideProposal,
  ed25519Signer,
  EMPTY_DECISION_STATE,
  noteKeyId,
  parseProposal,
  signCheckpoint,
  type CompiledPolicy,
  type LedgerStore,
  type LoadedPolicy,
} from '@countersign/core';
import { readPolicyFile } from '../policy-file.js';
import { Sequencer, type SequencerObserver } from '../ledger/sequencer.js';
import { ApiError, buildApp, route, type RouteSpec } from './app.js';

export interface GatewayServerOptions {
  readonly policyPath: string;
  readonly store: LedgerStore;
  readonly key: KeyObject;
  /** Origin line of every checkpoint; names this ledger. */
  readonly origin: string;
  readonly logLevel?: string;
  readonly bodyLimitBytes?: number;
  readonly clock?: () => number;
  readonly observer?: SequencerObserver;
}

export interface GatewayServer {
  readonly app: FastifyInstance;
  readonly policy: LoadedPolicy;
  readonly sequencer: Sequencer;
  /** Stop accepting requests, drain the ones in flight, flush the ledger, close the store. */
  close(): Promise<void>;
}

const Health = z.strictObject({ status: z.literal('ok') });
const Ready = z.strictObject({ status: z.literal('ready'), ledger_size: z.number().int(), bundle_id: z.string() });
const PolicySummary = z.strictObject({
  bundle_id: z.string(),
  name: z.string(),
  environments: z.array(z.string()),
  surfaces: z.array(z.string()),
  actions: z.array(z.strictObject({ id: z.string(), class: z.string() })),
});
const Decisions = z.strictObject({ bundle_id: z.string(), decisions: z.array(z.record(z.string(), z.unknown())) });
const LedgerHeadBody = z.strictObject({
  size: z.number().int(),
  checkpoint: z.strictObject({ tree_size: z.number().int(), note: z.string() }).nullable(),
});

/**
 * Assemble the gateway: policy, ledger sequencer with signed checkpoints, HTTP app.
 * Records `gateway.started` with the bundle id and key id before it answers.
 */
export async function startGateway(options: GatewayServerOptions): Promise<GatewayServer> {
  const clock = options.clock ?? (() => Date.now());
  const policy = readPolicyFile(options.policyPath);
  const compiled: CompiledPolicy = compilePolicy(policy.bundle, policy.bundleId);
  // The checkpoint key is named after the origin, as C2SP logs usually name theirs.
  const signer = ed25519Signer(options.origin, options.key);
  const sign = (treeSize: number, rootHash: Uint8Array): string => signCheckpoint({ origin: options.origin, treeSize, rootHash }, signer);
  const sequencer = await Sequencer.open(options.store, {
    checkpoints: { sign },
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const keyId = noteKeyId(options.origin, signer.publicKey);

  await sequencer.append({
    at: new Date(clock()).toISOString(),
    type: 'gateway.started',
    actor: null,
    surface: null,
    bundle_id: policy.bundleId,
    subjects: {},
    payload: { origin: options.origin, key_id: keyId, policy_name: policy.bundle.name },
  });

  const routes: RouteSpec[] = [
    route({
      method: 'GET',
      path: '/healthz',
      summary: 'the process is up',
      tag: 'operations',
      response: Health,
      handler: async () => ({ status: 'ok' as const }),
    }),
    route({
      method: 'GET',
      path: '/readyz',
      summary: 'the store answers and the gateway key signs',
      tag: 'operations',
      response: Ready,
      handler: async () => {
        try {
          const head = await options.store.head();
          sign(0, new Uint8Array(32));
          return { status: 'ready' as const, ledger_size: head.size, bundle_id: policy.bundleId };
        } catch {
          throw new ApiError('NOT_READY', 'the ledger store or the gateway key is not usable');
        }
      },
    }),
    route({
      method: 'GET',
      path: '/v1/policy',
      summary: 'the active policy bundle',
      tag: 'policy',
      response: PolicySummary,
      handler: async () => ({
        bundle_id: policy.bundleId,
        name: policy.bundle.name,
        environments: [...policy.bundle.environments],
        surfaces: policy.bundle.surfaces.map((s) => s.id),
        actions: policy.bundle.actions.map((a) => ({ id: a.id, class: a.class })),
      }),
    }),
    route({
      method: 'POST',
      path: '/v1/decisions',
      summary: 'dry run: decide each step of a proposal under the active bundle; records nothing, grants nothing',
      tag: 'policy',
      body: z.unknown(),
      response: Decisions,
      handler: async ({ body }) => {
        // the proposal arrives from an agent: attacker-controlled, parsed by the same schema as everywhere
        const proposal = parseProposal(body);
        const decisions = decideProposal(compiled, proposal, EMPTY_DECISION_STATE, clock());
        return { bundle_id: policy.bundleId, decisions: decisions as unknown as Record<string, unknown>[] };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/ledger/head',
      summary: 'ledger size and the latest signed checkpoint',
      tag: 'ledger',
      response: LedgerHeadBody,
      handler: async () => {
        const [head, checkpoint] = await Promise.all([options.store.head(), options.store.latestCheckpoint()]);
        return { size: head.size, checkpoint: checkpoint ? { tree_size: checkpoint.treeSize, note: checkpoint.note } : null };
      },
    }),
  ];

  const app = buildApp({
    routes,
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    ...(options.bodyLimitBytes ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
  });

  let closing: Promise<void> | null = null;
  return {
    app,
    policy,
    sequencer,
    close() {
      closing ??= (async () => {
        await app.close();
        await sequencer.close();
        await options.store.close();
      })();
      return closing;
    },
  };
}
