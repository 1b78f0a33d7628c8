import { BatonError, codeOfStatus, type ErrorBody, httpStatusOf, type IssueLike, issuesError, OPEN_CALLER } from "@baton/engine";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { redactFor } from "./auth.ts";
import type { AppEnv } from "./env.ts";

/** Writes a `{"error": {code, message, details}}` answer with the status of its code. */
export function errorResponse(c: Context, error: BatonError): Response {
  const body: ErrorBody = error.toJSON();
  return c.json(body, httpStatusOf(error.code) as ContentfulStatusCode);
}

/** Turns anything thrown into a BatonError; unknown errors become INTERNAL without their internals. */
export function toBatonError(error: unknown, requestId: string | undefined): BatonError {
  if (error instanceof BatonError) return error;
  // A status hono raises on its own (malformed JSON, body limit), as the code it stands for.
  if (error instanceof HTTPException) {
    const code = codeOfStatus(error.status);
    if (code) return new BatonError(code, error.message || code, {});
  }
  return new BatonError("INTERNAL", "Internal error; the server log has the details", requestId ? { requestId } : {});
}

/** The app's one error handler: every error answer has the same shape. */
export function onError(error: Error, c: Context<AppEnv>): Response {
  const baton = redactFor(c.var.caller ?? OPEN_CALLER, toBatonError(error, c.var.requestId));
  const status = httpStatusOf(baton.code);
  // UNAVAILABLE is a database or load condition the client retries, not a bug: a warning.
  if (baton.code === "UNAVAILABLE") c.var.logger?.warn({ err: error }, "request failed: unavailable");
  else if (status >= 500) c.var.logger?.error({ err: error }, "request failed");
  else c.var.logger?.debug({ code: baton.code, message: baton.message }, "request rejected");
  return errorResponse(c, baton);
}

interface ValidationResult {
  success: boolean;
  target: string;
  error?: { issues: IssueLike[] };
}

/**
 * The zod-openapi `defaultHook`: a failed validation becomes a 400 VALIDATION_ERROR whose
 * `details.fields` names each field at fault (each unknown field by name).
 */
export function validationHook(result: ValidationResult): void {
  if (result.success || !result.error) return;
  throw validationError(result.error.issues, result.target);
}

export function validationError(issues: readonly IssueLike[], target: string): BatonError {
  const where = target === "json" ? "body" : target;
  return issuesError("VALIDATION_ERROR", `Invalid request ${where}`, issues, `(${where})`, { in: where });
}
