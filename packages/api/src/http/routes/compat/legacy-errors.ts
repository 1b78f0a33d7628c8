import type { ErrorBody } from "@baton/engine";
import type { Context, ErrorHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../../env.ts";
import { onError } from "../../errors.ts";

/**
 * Error answers of the compatibility routes: the app's own answer (same status, logging and
 * redaction), with the old service's fields added beside Baton's `error`, so a caller that reads
 * `status`/`message` (Spring) or `detail` (FastAPI) finds them.
 */
function legacyErrors(oldFields: (error: ErrorBody["error"]) => Record<string, unknown>): ErrorHandler<AppEnv> {
  return async function legacyError(error: Error, c: Context<AppEnv>) {
    const answer = onError(error, c);
    const body = (await answer.json()) as ErrorBody;
    return c.json({ ...oldFields(body.error), ...body }, answer.status as ContentfulStatusCode);
  };
}

/** The Spring orchestrator answered failures with `{status: "ERROR", message}`. */
export const springErrors = legacyErrors((error) => ({ status: "ERROR", message: error.message }));

/** FastAPI answered failures with `{detail}`. */
export const fastapiErrors = legacyErrors((error) => ({ detail: error.message }));
