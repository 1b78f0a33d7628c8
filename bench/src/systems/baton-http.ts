import { LostWorkError } from "../figure.ts";

export const BATCH_START_PATH = "/v1/workflows/{name}/runs/batch";

/** Whether the server documents the batch start route (OpenAPI), so a missing route reads "n/a". */
export async function hasBatchStart(serverUrl: string): Promise<boolean> {
  const res = await fetch(`${serverUrl}/openapi.json`);
  if (!res.ok) return false;
  const doc = (await res.json()) as { paths?: Record<string, unknown> };
  return Object.hasOwn(doc.paths ?? {}, BATCH_START_PATH);
}

/**
 * `POST /v1/workflows/{name}/runs/batch` with `{runs: [{runId, input}]}` (at most 1,000 runs). The
 * answer is `{results}`, one per run in order; a refused run carries an `error` in its slot.
 */
export async function startBatchOverHttp(serverUrl: string, workflow: string, runs: { runId: string; input: unknown }[]): Promise<void> {
  const res = await fetch(`${serverUrl}${BATCH_START_PATH.replace("{name}", encodeURIComponent(workflow))}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ runs }),
  });
  const text = await res.text();
  if (!res.ok) throw new LostWorkError(`batch start answered ${res.status}: ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as unknown;
  const items = Array.isArray(body) ? body : Object.values(body as Record<string, unknown>).find(Array.isArray);
  if (items?.length !== runs.length) throw new LostWorkError(`batch start answered ${items?.length ?? 0} results for ${runs.length} runs`);
  const wrong = items.find(
    (item) => typeof item !== "object" || item === null || "error" in item || (item as { created?: unknown }).created !== true,
  );
  if (wrong) throw new LostWorkError(`batch start did not create a run: ${JSON.stringify(wrong).slice(0, 300)}`);
}
