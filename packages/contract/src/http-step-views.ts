import { z } from "zod";
import type { HttpCircuitView } from "./types.ts";

/*
 * What the API shows of HTTP-call steps: the calls a step makes (in a workflow's view) and the
 * circuit breakers of the hosts an instance's HTTP steps call (in an instance's view).
 */

/** The methods an HTTP step may call with (its definition's `method`). */
export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

const callView = z.object({
  url: z.string().meta({ description: "The URL template, {input.<field>} placeholders unfilled" }),
  method: z.enum(HTTP_METHODS),
  headerNames: z.array(z.string()).meta({ description: "The headers it sends; values are not shown" }),
  timeoutMs: z.number().int(),
});

export const HttpStepViewSchema = z
  .object({ maxInFlight: z.number().int(), do: callView, undo: callView.nullable() })
  .meta({ id: "HttpStep", description: "transport http: the calls Baton makes for this step (header values are not shown)" });

export const HttpCircuitViewSchema = z
  .object({
    host: z.string().meta({ description: "host:port, as the step's URL names it" }),
    state: z.enum(["closed", "open", "half-open"]).meta({
      description: "open: calls fail at once without a request; half-open: one trial call decides whether it closes",
    }),
    consecutiveFailures: z.number().int(),
    steps: z.array(z.string()).meta({ description: "This instance's HTTP steps that call the host" }),
  })
  .meta({ id: "HttpCircuit", description: "The circuit breaker of one host, as the answering Baton process sees it" });

// Compile-time check: the schema and the plain type in types.ts describe the same shape.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameShape: Same<z.infer<typeof HttpCircuitViewSchema>, HttpCircuitView> = true;
void sameShape;
