/**
 * The run input a payload of the replaced orchestrators stands for. Their starts carried raw bytes
 * (the Spring service's `POST /execute/{orchName}` body, the base64 `payload` of a Kafka start):
 * bytes that are a JSON object are that object; anything else (binary, text, JSON that is not an
 * object) is kept as base64 under `payload`, so nothing a service sent is lost. No bytes: `{}`.
 * @example inputOfLegacyPayload(Buffer.from('{"tenantId":"t1"}')) // { tenantId: "t1" }
 * @example inputOfLegacyPayload(Buffer.from([0xff, 0x00])) // { payload: "/wA=" }
 */
export function inputOfLegacyPayload(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.byteLength === 0) return {};
  const value = jsonOf(bytes);
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  return { payload: Buffer.from(bytes).toString("base64") };
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The JSON value the bytes hold, or undefined when they are not UTF-8 JSON. */
function jsonOf(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(UTF8.decode(bytes));
  } catch {
    return undefined;
  }
}
