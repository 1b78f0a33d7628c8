export * from "./errors.ts";
export * from "./field-hints.ts";
export * from "./http-step-views.ts";
export * from "./limits.ts";
export * from "./registration-views.ts";
export * from "./states.ts";
export * from "./strict-fields.ts";
export type * from "./types.ts";
export * from "./wire.ts";
