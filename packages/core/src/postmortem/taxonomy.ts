/**
 * The error taxonomy of the incident analysis ("When the Override Path
 * Becomes the Production Path", reference/000), in precedence order: the
 * first class present is the primary, the second the secondary, the rest
 * additional. The order reads the failure as the analysis does: first the
 * authority that transferred, then the runtime that let it run, then the
 * surface it crossed, then the people and process around it, then the gate
 * that should have caught it before release, then the record of it.
 */
export const FAILURE_CLASSES = [
  'authority-boundary-failure',
  'policy-enforcement-failure',
  'tool-authority-failure',
  'operator-process-failure',
  'evaluation-blind-spot',
  'traceability-gap',
] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

export interface ClassMeaning {
  /** What boundary a finding of this class says was crossed. */
  readonly boundary: string;
  /** The control that should have held. */
  readonly control: string;
  readonly release: string;
}

export const CLASS_MEANINGS: Readonly<Record<FailureClass, ClassMeaning>> = {
  'authority-boundary-failure': {
    boundary: 'independent approval boundary',
    control: 'enforceable second-key approval through a separate surface',
    release: 'block the current approval and override posture until the authority model is hardened',
  },
  'policy-enforcement-failure': {
    boundary: 'fail-closed execution boundary: a run without a valid grant, lease or satisfied contract condition',
    control: 'fail-closed grant, lease, prerequisite and rollback enforcement',
    release: 'block the current approval and override posture until fail-closed enforcement is restored',
  },
  'tool-authority-failure': {
    boundary: 'agent tool boundary: an agent credential reached beyond what it may run or decide on its own',
    control: 'agent credentials limited to proposing and executing what was granted',
    release: 'narrow the agent credential to its allowed actions before it runs again',
  },
  'operator-process-failure': {
    boundary: 'override boundary: the exception path used outside its constraints',
    control: 'override constraint logic: separate surface, reachable approvers first, budget',
    release: 'suspend overrides for the affected environment until the override rules are tightened',
  },
  'evaluation-blind-spot': {
    boundary: 'release gate: decisions no golden case ever tested',
    control: 'golden-set gate before bundle activation',
    release: 'add golden cases for what ran untested before the next activation',
  },
  'traceability-gap': {
    boundary: 'trace contract: the authority chain cannot be rebuilt from the ledger',
    control: 'required trace fields on every authority entry',
    release: 'require the missing trace fields before the next release',
  },
};
