/** The body of an override request, as the scenario tests send it. */
// a type, not an interface: the client SDK takes it as JSON, which needs an implicit index signature
export type OverrideDraft = {
  readonly hold: string | null;
  readonly step_digests: readonly string[];
  readonly trip_gate_ack: string | null;
  readonly valid_from: string;
  readonly valid_to: string;
  readonly scope: { readonly environments: readonly string[]; readonly actions: readonly string[]; readonly targets: readonly string[] };
  readonly reason_code: string;
  readonly reason_text: string;
  readonly rollback_artifact: string;
};

/**
 * An override request for the restart of `payments-worker` in prod, valid for
 * an hour from `now`: the in-memory world, the gateway bench, the HTTP suite
 * and the client SDK test all ask for this one.
 */
export function restartOverrideAt(now: number, hold: string | null, tripGateAck: string | null, digest: string, artifact: string): OverrideDraft {
  return {
    hold,
    step_digests: [digest],
    trip_gate_ack: tripGateAck,
    valid_from: new Date(now).toISOString(),
    valid_to: new Date(now + 3_600_000).toISOString(),
    scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
    reason_code: 'APPROVER_UNAVAILABLE',
    reason_text: 'second approver unreachable; backlog growing',
    rollback_artifact: artifact,
  };
}
