import { BatonError } from "@baton/engine";
import type { Context } from "hono";
import { DefinitionTextError, parseDefinitionText } from "../definition-text.ts";

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
    return parseDefinitionText(text, isJson ? "json" : "yaml");
  } catch (error) {
    if (!(error instanceof DefinitionTextError)) throw error;
    throw new BatonError("VALIDATION_ERROR", `Request body: ${error.message}`, { in: "body" });
  }
}
