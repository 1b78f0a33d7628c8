import { readFileSync } from "node:fs";

/**
 * Baton's version: the one in @baton/api's package.json (every package of the workspace carries the
 * same, set by `pnpm release:version`). Read at run time, so source and build report the same value:
 * src/ and dist/ sit at the same depth below the package.
 */
export const VERSION: string = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version;
