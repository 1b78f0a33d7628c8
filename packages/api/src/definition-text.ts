import { LIMITS } from "@baton/engine";
import { parse as parseYaml } from "yaml";

/**
 * Largest YAML text read as a definition. The YAML parser's cost grows faster than its input on
 * some hostile texts (64 KiB of `"` takes ~1 s; 32 KiB of `[` exhausts the process), so YAML is
 * kept small; a 500-step definition is well under this, and JSON may use the whole body limit.
 */
export const MAX_YAML_BYTES = 64 * 1024;

/**
 * Block nesting allowed in YAML, as a line's indentation plus its `- `, `? ` and `: ` indicators.
 * Deep block nesting (`- - - - ...`) makes the parser recurse until the stack is gone, and V8 can
 * then die outright instead of throwing; real definitions are indented a dozen columns or so.
 */
const MAX_YAML_BLOCK_DEPTH = 128;

/** Why a definition text cannot be read. */
export class DefinitionTextError extends Error {
  override readonly name = "DefinitionTextError";
}

/**
 * Reads a definition (or registration) from text: JSON when it is JSON, else YAML, bounded in size
 * and in flow nesting before the YAML parser sees it. Throws DefinitionTextError naming the fault.
 */
export function parseDefinitionText(text: string, format: "json" | "yaml"): unknown {
  if (format === "json" || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch (error) {
      if (format === "json") throw new DefinitionTextError(`Malformed JSON: ${(error as Error).message}`);
      // Not JSON after all (YAML flow style starts the same way): read it as YAML below.
    }
  }
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_YAML_BYTES) {
    throw new DefinitionTextError(`YAML definitions are limited to ${MAX_YAML_BYTES} bytes (this is ${bytes}); send larger ones as JSON`);
  }
  if (flowDepth(text) > LIMITS.maxJsonDepth || blockDepth(text) > MAX_YAML_BLOCK_DEPTH) {
    throw new DefinitionTextError(
      `YAML nested too deeply: at most ${LIMITS.maxJsonDepth} levels of [ ] / { } and ${MAX_YAML_BLOCK_DEPTH} columns of indentation and - ? : indicators on a line`,
    );
  }
  try {
    return parseYaml(text, { maxAliasCount: 100, prettyErrors: false });
  } catch (error) {
    throw new DefinitionTextError(`Malformed YAML: ${(error as Error).message.split("\n")[0]}`);
  }
}

/** The deepest run of open `[`/`{` brackets, counting brackets inside quotes too (an over-estimate). */
function flowDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 91 || ch === 123) deepest = Math.max(deepest, ++depth);
    else if ((ch === 93 || ch === 125) && depth > 0) depth--;
  }
  return deepest;
}

/** The most any line is nested by block syntax: its indentation plus its block indicators (an over-estimate). */
function blockDepth(text: string): number {
  let deepest = 0;
  for (const line of text.split("\n")) {
    const indent = line.length - line.trimStart().length;
    const indicators = line.match(/(?:^|\s)[-?:](?=\s|$)/g)?.length ?? 0;
    deepest = Math.max(deepest, indent + indicators);
  }
  return deepest;
}
