/*
 * The templates of HTTP steps. A URL may take values from the step's input (`{input.orderId}`),
 * URL-encoded, but only after its origin: the scheme, host and port are always the definition's
 * own. A header value may name a secret environment variable (`{env.BATON_SECRET_TOKEN}`), resolved
 * only when the call is made, so no secret is ever stored in a definition. Validation (at
 * registration) and rendering (at call time) share the one tokenizer below.
 */

/** Secrets a header may name are environment variables with this prefix, and no others. */
export const SECRET_ENV_PREFIX = "BATON_SECRET_";
const SECRET_NAME = /^BATON_SECRET_[A-Z0-9_]{1,128}$/;
const INPUT_PATH = /^input(\.[A-Za-z0-9_-]{1,128}){1,16}$/;
const MAX_PLACEHOLDERS = 16;
/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;
/** Control characters (tab excepted) cannot travel in a header value; CR and LF would split it. */
function hasControlCharacters(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 32 && code !== 9) || code === 127) return true;
  }
  return false;
}
/** Headers Baton sets itself, or that would change how the request is framed or routed. */
const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "idempotency-key",
]);
const RESERVED_PREFIXES = ["x-baton-", "proxy-"];

type Piece = { literal: string } | { placeholder: string };

/** Splits a template into literal text and `{...}` placeholders, or says why it cannot be split. */
function tokenize(template: string): Piece[] | string {
  const pieces: Piece[] = [];
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf("{", at);
    const close = template.indexOf("}", at);
    if (close >= 0 && (open < 0 || close < open)) return `a '}' at position ${close} closes no placeholder`;
    if (open < 0) {
      pieces.push({ literal: template.slice(at) });
      break;
    }
    const end = template.indexOf("}", open);
    const nested = template.indexOf("{", open + 1);
    if (end < 0 || (nested >= 0 && nested < end)) return `the '{' at position ${open} opens a placeholder that is not closed`;
    if (open > at) pieces.push({ literal: template.slice(at, open) });
    pieces.push({ placeholder: template.slice(open + 1, end) });
    at = end + 1;
  }
  const placeholders = pieces.filter((p) => "placeholder" in p).length;
  return placeholders > MAX_PLACEHOLDERS ? `${placeholders} placeholders, more than ${MAX_PLACEHOLDERS}` : pieces;
}

/** Where the origin (`scheme://host:port`) of a written URL ends, or -1 when it does not start with one. */
function originEnd(literal: string): number {
  const match = /^https?:\/\/[^/?#]*/i.exec(literal);
  return match ? match[0].length : -1;
}

/** The URL template as pieces, each placeholder an input path, or why it is not a usable URL. */
function urlPieces(template: string): { pieces: Piece[]; originLength: number } | string {
  const pieces = tokenize(template);
  if (typeof pieces === "string") return pieces;
  for (const p of pieces) {
    if (!("placeholder" in p)) continue;
    if (p.placeholder.startsWith("env."))
      return `{${p.placeholder}}: secrets may not be part of a URL (URLs are logged); send them in a header`;
    if (!INPUT_PATH.test(p.placeholder)) return `unknown placeholder {${p.placeholder}}: use {input.<field>} or {input.<step>.<field>}`;
  }
  const head = pieces[0];
  const length = head && "literal" in head ? originEnd(head.literal) : -1;
  if (length < 0) return "must be an absolute http:// or https:// URL starting with its host";
  if (head && "literal" in head && length === head.literal.length && pieces.length > 1) {
    return "a placeholder may not stand in the scheme, host or port: only the path and query take values from the input";
  }
  return { pieces, originLength: length };
}

/** The path and query of a parsed URL, as the parser normalised them. */
const pathAndQuery = (url: URL) => url.pathname + url.search;

/** The written path and query after the origin ("" is the root). */
const writtenPath = (text: string, originLength: number) => {
  const rest = text.slice(originLength);
  return rest === "" || rest.startsWith("?") ? `/${rest}` : rest;
};

/**
 * Why a URL template cannot be used, or null. It must be an absolute http(s) URL with no
 * credentials and no fragment, written in normal form (so what is called is what was written),
 * whose placeholders (`{input.<path>}`) stand only in the path or query.
 */
export function urlTemplateIssue(template: string): string | null {
  const parsed = urlPieces(template);
  if (typeof parsed === "string") return parsed;
  const sample = parsed.pieces.map((p) => ("literal" in p ? p.literal : "x")).join("");
  let url: URL;
  try {
    url = new URL(sample);
  } catch {
    return "is not a valid URL";
  }
  if (url.username || url.password) return "may not carry credentials: send them in a header that names a secret ({env.BATON_SECRET_...})";
  if (url.hash || sample.includes("#")) return "may not have a fragment (#...): it is never sent";
  if (!url.hostname) return "has no host";
  const written = writtenPath(sample, parsed.originLength);
  if (pathAndQuery(url) !== written) return `is not in normal form: write it as ${url.origin}${pathAndQuery(url)}`;
  return null;
}

/** The origin (`scheme://host:port`) of a URL template that passed `urlTemplateIssue`. */
export function urlTemplateOrigin(template: string): string {
  const parsed = urlPieces(template);
  if (typeof parsed === "string") throw new TypeError(`not a valid URL template: ${parsed}`);
  const head = parsed.pieces[0] as { literal: string };
  return new URL(head.literal.slice(0, parsed.originLength)).origin;
}

/** A value found at `path` (dotted, after `input.`) in the input, or undefined. */
function valueAt(input: unknown, path: string[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * The URL to call: each `{input.<path>}` replaced by that value of the step's input (a string,
 * number or boolean), URL-encoded. Answers why not when a value is missing or of another type,
 * or would move the URL elsewhere than the definition names (a `..` value, say).
 */
export function renderUrl(template: string, input: unknown): { url: URL } | { error: string } {
  const parsed = urlPieces(template);
  if (typeof parsed === "string") return { error: `the URL template ${parsed}` };
  let text = "";
  for (const piece of parsed.pieces) {
    if ("literal" in piece) {
      text += piece.literal;
      continue;
    }
    const value = valueAt(input, piece.placeholder.split(".").slice(1));
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      const found = value === undefined ? "nothing" : value === null ? "null" : Array.isArray(value) ? "an array" : "an object";
      return { error: `{${piece.placeholder}} needs a string, number or boolean in the step's input; found ${found}` };
    }
    const encoded = encodeURIComponent(String(value));
    if (encoded === "") return { error: `{${piece.placeholder}} is an empty string in the step's input` };
    text += encoded;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { error: "the URL with the step's input filled in is not a valid URL" };
  }
  // Encoded values cannot add separators, but '.' and '..' are dot segments the parser resolves.
  if (pathAndQuery(url) !== writtenPath(text, parsed.originLength)) {
    return { error: "a value from the step's input would change the URL's path ('.' or '..'); refused" };
  }
  return { url };
}

/** Why a header (name and value as written) cannot be used, or null. */
export function headerIssue(name: string, value: string): string | null {
  if (!HEADER_NAME.test(name)) return "is not a valid header name";
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower) || RESERVED_PREFIXES.some((p) => lower.startsWith(p))) {
    return "is set by Baton (or frames the request) and cannot be given";
  }
  if (hasControlCharacters(value)) return "holds control characters (a line break, say), which a header value cannot carry";
  const pieces = tokenize(value);
  if (typeof pieces === "string") return pieces;
  for (const p of pieces) {
    if (!("placeholder" in p)) continue;
    const name = p.placeholder.slice("env.".length);
    if (!p.placeholder.startsWith("env."))
      return `unknown placeholder {${p.placeholder}}: a header takes only {env.${SECRET_ENV_PREFIX}<NAME>}`;
    if (!SECRET_NAME.test(name))
      return `{${p.placeholder}}: only environment variables named ${SECRET_ENV_PREFIX}<A-Z, 0-9, _> may be read`;
  }
  return null;
}

/**
 * The header values to send, with each `{env.NAME}` replaced by that secret. Answers why not
 * (naming the variable, never its value) when one is not set or holds what a header cannot carry.
 */
export function renderHeaders(
  headers: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string | undefined>>,
): { headers: Record<string, string> } | { error: string } {
  const out: Record<string, string> = {};
  for (const [name, template] of Object.entries(headers)) {
    const pieces = tokenize(template);
    if (typeof pieces === "string") return { error: `header ${name}: ${pieces}` };
    let value = "";
    for (const piece of pieces) {
      if ("literal" in piece) {
        value += piece.literal;
        continue;
      }
      const variable = piece.placeholder.slice("env.".length);
      const secret = Object.hasOwn(secrets, variable) ? secrets[variable] : undefined;
      if (secret === undefined) return { error: `header ${name}: the environment variable ${variable} is not set on this Baton process` };
      if (hasControlCharacters(secret)) {
        return { error: `header ${name}: the environment variable ${variable} holds characters a header cannot carry` };
      }
      value += secret;
    }
    out[name] = value;
  }
  return { headers: out };
}
