export * from "./errors.ts";
export type * from "./types.ts";
export * from "./wire.ts";
