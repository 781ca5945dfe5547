// Order statistics, and the one way of printing a count, that the bench scripts share.

/** The sample at percent `p` of ascending `sorted` (nearest rank, rounded down); undefined when there is none. */
export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The middle value (the upper one of an even count), without reordering `values`. */
export function median(values) {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** A count rounded to a whole number, with thousands separators: 12,345. */
export function int(n) {
  return Math.round(n).toLocaleString('en-US');
}
