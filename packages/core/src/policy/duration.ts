import { CountersignError } from '../errors.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DURATION_PATTERN = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/;

/** `30m`, `4h`, `7d`, `90s`, `500ms` to milliseconds. One unit only: `1h30m` is written `90m`. */
export function parseDuration(text: string): number {
  const match = DURATION_PATTERN.exec(text);
  if (!match) {
    throw new CountersignError('POLICY_INVALID', `\`${text}\` is not a duration such as \`30m\`, \`4h\` or \`7d\``);
  }
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Milliseconds back to the largest exact unit, for messages and reports. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
