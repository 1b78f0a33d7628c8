import { BatonError } from "@baton/engine";
import type { Context } from "hono";
import { parse as parseYaml } from "yaml";

const YAML_TYPES = new Set(["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"]);
const JSON_TYPE = /^application\/([\w.-]+\+)?json$/;

/**
 * Reads a workflow definition body: JSON for application/json, YAML for application/yaml or
 * text/yaml. Without a content type it is read as YAML, which also reads JSON.
 */
export async function readDefinitionBody(c: Context): Promise<unknown> {
  const mediaType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  const isJson = JSON_TYPE.test(mediaType);
  if (mediaType !== "" && !isJson && !YAML_TYPES.has(mediaType)) {
    throw new BatonError("UNSUPPORTED_MEDIA_TYPE", `Send a definition as application/json or application/yaml, not ${mediaType}`, {
      contentType: mediaType,
    });
  }
  const text = await c.req.text();
  if (text.trim() === "") throw new BatonError("VALIDATION_ERROR", "The body is empty; send a workflow definition", { in: "body" });
  try {
    return isJson ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    const what = isJson ? "JSON" : "YAML";
    throw new BatonError("VALIDATION_ERROR", `Malformed ${what} in request body: ${(error as Error).message}`, { in: "body" });
  }
}
