/**
 * An error raised by a route: a stable code, a message safe to show, optional
 * details. In a module of its own so that code outside the server (the
 * credential checks) can raise it without loading Fastify.
 */
export class ApiError extends Error {
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = details;
  }
}
