import { Counter, type Registry } from 'prom-client';
import { canonicalJson, shadowDecision, storedPolicy, type AuthorityState, type LedgerEntry } from '@countersign/core';

/**
 * The live half of a shadow run (issue 13): each decision recorded while a
 * release is open is also decided under its candidate, and counted as the
 * same or changed. Shadow changes nothing: it reads the state after the
 * decision committed and records nothing. `GET /v1/releases/{id}/shadow`
 * lists the same decisions by replaying the release's window of the ledger.
 */
export class ShadowCounter {
  readonly #counter: Counter<'release' | 'result'>;
  readonly #state: () => AuthorityState;

  constructor(registry: Registry, state: () => AuthorityState) {
    this.#state = state;
    this.#counter = new Counter({
      name: 'countersign_release_shadow_decisions_total',
      help: 'Decisions recorded while a release was open, decided again under its candidate: result same or changed (effect, risk, class, reasons or required approvers)',
      labelNames: ['release', 'result'],
      registers: [registry],
    });
  }

  /** True while some release is open: only then is anything counted. */
  watching(): boolean {
    for (const release of this.#state().releases.values()) if (release.status === 'open') return true;
    return false;
  }

  /** Committed (or followed) entries: only `step.decided` counts, and only while a release is open. */
  observe(entries: readonly LedgerEntry[]): void {
    const state = this.#state();
    const open = [...state.releases.values()].filter((r) => r.status === 'open');
    if (open.length === 0) return;
    for (const entry of entries) {
      if (entry.type !== 'step.decided') continue;
      const p = entry.payload;
      const recorded = comparable(p['effect'], p['risk'], p['class'], p['reasons'], p['requirements']);
      for (const release of open) {
        const candidate = storedPolicy(state, release.candidate);
        if (candidate === null || typeof p['step'] !== 'string') continue;
        const decision = shadowDecision(state, p['step'], candidate, Date.parse(entry.at));
        if (decision === null) continue;
        const shadow = comparable(decision.effect, decision.risk, decision.action_class, decision.reasons, decision.requirements);
        this.#counter.inc({ release: release.id, result: shadow === recorded ? 'same' : 'changed' });
      }
    }
  }
}

/** What a decision says, without its times: effect, risk, class, reasons, and who must approve. */
function comparable(effect: unknown, risk: unknown, cls: unknown, reasons: unknown, requirements: unknown): string {
  const r = (requirements ?? null) as { quorum?: unknown; surfaces?: unknown; attestation?: unknown } | null;
  const approvers = r === null ? null : { quorum: r.quorum ?? null, surfaces: r.surfaces ?? null, attestation: r.attestation ?? null };
  return canonicalJson({ effect: effect ?? null, risk: risk ?? null, class: cls ?? null, reasons: Array.isArray(reasons) ? [...(reasons as string[])].sort() : null, approvers } as never);
}
