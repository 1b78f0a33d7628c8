import { bundleServer } from "./server-bundle.ts";

// `pnpm build`, after tsc: the server entry, packages/api/dist/main.js, replaced by one bundled file
// (what the image and `baton serve` run). The rest of dist/ (the CLI, the library entries) stays as
// tsc made it.
await bundleServer("dist/");
