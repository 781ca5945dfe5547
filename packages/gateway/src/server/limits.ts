/**
 * Request body limits, in a module of their own so the CLI can name them in
 * `--help` without loading Fastify.
 */

/** Requests whose body is larger are refused with BODY_TOO_LARGE before parsing. */
export const DEFAULT_BODY_LIMIT_BYTES = 256 * 1024;
