export * from "./errors.ts";
export * from "./field-hints.ts";
export * from "./registration-views.ts";
export * from "./strict-fields.ts";
export type * from "./types.ts";
export * from "./wire.ts";
