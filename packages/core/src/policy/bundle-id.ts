import { canonicalJson, type CanonicalValue } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import type { PolicyBundle } from './schema.js';

/**
 * A bundle's id names what it means, not how it is written: comments,
 * formatting, key order, the order of id-keyed lists and the order of lists
 * that are sets cannot change it; changing a rule does.
 *
 * The id is `sha256:<hex>` over the RFC 8785 canonical JSON of the normalised
 * bundle: the zod output (defaults applied, so writing a default out or leaving
 * it implicit is the same bundle), with
 *   - id-keyed lists sorted by id (principals, keys, surfaces, risk classes,
 *     actions, trip gates, webhooks; override budgets by environment),
 *   - lists of ids that are sets (environments, roles, surfaces, allowlists,
 *     reason codes, release golden sets) sorted and de-duplicated,
 *   - lists of objects that are sets (quorum factors, ANDed; prerequisites)
 *     sorted by their canonical JSON.
 * Order that carries meaning stays: there is none left in the schema, so a new
 * ordered list must be added here deliberately rather than sorted by accident.
 */
export function policyBundleId(bundle: PolicyBundle): string {
  return canonicalDigest(normalisePolicy(bundle));
}

export function normalisePolicy(bundle: PolicyBundle): CanonicalValue {
  const b = bundle;
  const approval = (a: PolicyBundle['risk_classes'][number]['approval']): CanonicalValue | undefined =>
    a === undefined
      ? undefined
      : strip({
          ...a,
          quorum: byCanonical(a.quorum.map((f) => ({ ...f, roles: idSet(f.roles) }))),
          surfaces: idSet(a.surfaces),
        });

  const approvalOf = (a: NonNullable<PolicyBundle['release']>['approval']): CanonicalValue =>
    strip({ ...a, quorum: byCanonical(a.quorum.map((f) => ({ ...f, roles: idSet(f.roles) }))), surfaces: idSet(a.surfaces) });

  return strip({
    ...b,
    environments: idSet(b.environments),
    surfaces: byId(b.surfaces.map(strip)),
    roles: idSet(b.roles),
    principals: byId(
      b.principals.map((p) => strip({ ...p, roles: idSet(p.roles), keys: byId(p.keys.map(strip)) })),
    ),
    risk_classes: byId(b.risk_classes.map((r) => strip({ ...r, approval: approval(r.approval) }))),
    actions: byId(
      b.actions.map((a) =>
        strip({
          ...a,
          params:
            a.params === undefined
              ? undefined
              : Object.fromEntries(
                  Object.entries(a.params).map(([name, rule]) => [
                    name,
                    strip({ ...rule, allow: rule.allow === undefined ? undefined : valueSet(rule.allow) }),
                  ]),
                ),
          requires_prior: byCanonical(a.requires_prior.map(strip)),
          approval: approval(a.approval),
          override: a.override === undefined ? undefined : strip(a.override),
        }),
      ),
    ),
    overrides:
      b.overrides === undefined
        ? undefined
        : strip({
            ...b.overrides,
            signer_a_roles: idSet(b.overrides.signer_a_roles),
            signer_b_roles: idSet(b.overrides.signer_b_roles),
            surfaces: idSet(b.overrides.surfaces),
            reason_codes: idSet(b.overrides.reason_codes),
            max_duration: strip(b.overrides.max_duration),
            incident_classes: idSet(b.overrides.incident_classes),
            budgets: b.overrides.budgets
              .map((x) => strip({ ...x, extra_signer_roles: idSet(x.extra_signer_roles) }))
              .sort((x, y) => compare(String(x['environment']), String(y['environment']))),
          }),
    holds: strip({
      trip_gates: byId(b.holds.trip_gates.map(strip)),
      open_roles: idSet(b.holds.open_roles),
      lift_roles: idSet(b.holds.lift_roles),
    }),
    rollback: { roles: idSet(b.rollback.roles), environments: idSet(b.rollback.environments) },
    halt: { roles: idSet(b.halt.roles), environments: idSet(b.halt.environments) },
    trace: { required_fields: idSet(b.trace.required_fields) },
    notifications:
      b.notifications === undefined
        ? undefined
        : { webhooks: byId(b.notifications.webhooks.map((w) => strip({ ...w, risks: idSet(w.risks) }))) },
    release:
      b.release === undefined
        ? undefined
        : strip({ propose_roles: idSet(b.release.propose_roles), approval: approvalOf(b.release.approval), golden: strip({ ...b.release.golden, sets: b.release.golden.sets === undefined ? undefined : idSet(b.release.golden.sets) }) }),
  });
}

type Obj = Record<string, CanonicalValue>;

/** Drops keys whose value is undefined: an absent optional field and a missing one are the same bundle. */
function strip(value: object): Obj {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Obj;
}

// Code-unit order, the same order RFC 8785 uses for keys: no locale can change it.
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function idSet(values: readonly string[]): string[] {
  return [...new Set(values)].sort(compare);
}

function valueSet(values: readonly (string | number | boolean)[]): CanonicalValue[] {
  return byCanonical(values);
}

function byId(items: Obj[]): Obj[] {
  return [...items].sort((a, b) => compare(String(a['id']), String(b['id'])));
}

/** Sorts and de-duplicates by canonical JSON: for lists whose items are values, not positions. */
function byCanonical(items: readonly unknown[]): CanonicalValue[] {
  const keyed = new Map<string, CanonicalValue>();
  for (const item of items) keyed.set(canonicalJson(item), item as CanonicalValue);
  return [...keyed.entries()].sort(([a], [b]) => compare(a, b)).map(([, v]) => v);
}
