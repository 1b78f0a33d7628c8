import fc from "fast-check";

/*
 * Hostile input for the HTTP fuzz: JSON built as text (so `__proto__` keys, duplicate keys, lone
 * surrogates and numbers JavaScript cannot hold reach the server exactly as written), mutations of
 * a route's valid body at any depth, malformed and deeply nested bodies, YAML bombs, hostile ids and
 * query strings.
 */

/** A JSON document as a tree whose leaves are literal JSON text. */
export type JsonTree = { text: string } | { items: JsonTree[] } | { entries: [string, JsonTree][] };

/** One request of the fuzz. A body given as bytes is sent as it is (e.g. invalid UTF-8). */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** The tree of an ordinary JavaScript value. */
export function tree(value: unknown): JsonTree {
  if (Array.isArray(value)) return { items: value.map(tree) };
  if (value !== null && typeof value === "object") return { entries: Object.entries(value).map(([k, v]) => [k, tree(v)]) };
  return { text: JSON.stringify(value) ?? "null" };
}

export function render(t: JsonTree): string {
  if ("text" in t) return t.text;
  if ("items" in t) return `[${t.items.map(render).join(",")}]`;
  return `{${t.entries.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(",")}}`;
}

/** The parser-breaking depth of the issue: 10,000 levels of arrays or objects. */
export const DEEP = 10_000;
const deepArray = `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`;
const deepObject = `${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`;
export const deepNesting = fc.constantFrom<JsonTree>({ text: deepArray }, { text: deepObject });

const LONE_SURROGATES = ["\ud800", "\udfff", "a\ud83d", "\ude00b", "\udbff\ud800"];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  // Any code points, lone surrogates included (fc.string's "binary" unit costs seconds to set up).
  fc.array(fc.nat(0x10ffff), { maxLength: 12 }).map((points) => String.fromCodePoint(...points)),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    ...LONE_SURROGATES,
    "__proto__",
    "constructor",
    "'; DROP TABLE workflow_instances; --",
    "../../etc/passwd",
    "%00",
    "$" + "{jndi:ldap://x}",
    "\u202e\ufeff",
    "NaN",
    "null",
    "1e400",
    "2025-13-45T25:61:61Z",
    "00000000-0000-0000-0000-000000000000",
  ),
  fc.constantFrom(200, 1000, 5000, 70_000).map((n) => "x".repeat(n)),
);

/** Numbers as JSON text, including ones a double cannot hold and ones Postgres columns cannot. */
export const hostileNumber: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "0",
    "-0",
    "-1",
    "1.5",
    "2147483648",
    "9007199254740993",
    "9223372036854775808",
    "123456789012345678901234567890",
    "1e308",
    "1e400",
    "-1e400",
    "1e-400",
    "0.1e-320",
    "4e-324",
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", "\u0000", ...LONE_SURROGATES),
  fc.string({ maxLength: 8 }),
);

/** Any JSON, hostile at every leaf and key, a few levels deep. */
export const hostileJson: fc.Arbitrary<JsonTree> = fc.letrec<{ value: JsonTree }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    hostileString.map((s) => ({ text: JSON.stringify(s) })),
    hostileNumber.map((text) => ({ text })),
    fc.constantFrom({ text: "true" }, { text: "false" }, { text: "null" }),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => ({ items })),
    fc.array(fc.tuple(hostileKey, tie("value")), { maxLength: 4 }).map((entries) => ({ entries })),
  ),
})).value;

/** Replacement values for a node: hostile JSON, or a 10,000-deep nesting. */
const hostileNode = fc.oneof({ weight: 9, arbitrary: hostileJson }, { weight: 1, arbitrary: deepNesting });

type Mutation =
  | { kind: "replace"; at: number; with: JsonTree }
  | { kind: "add"; at: number; key: string; with: JsonTree }
  | { kind: "duplicate"; at: number; with: JsonTree }
  | { kind: "drop"; at: number }
  | { kind: "repeat"; at: number; times: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), with: hostileNode }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("add" as const), at: fc.nat(), key: hostileKey, with: hostileJson }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("duplicate" as const), at: fc.nat(), with: hostileJson }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("repeat" as const), at: fc.nat(), times: fc.constantFrom(2, 1001) }) },
);

/** Nodes of a tree in pre-order, each with the function that rebuilds the tree with it replaced. */
function nodes(t: JsonTree, rebuild: (n: JsonTree) => JsonTree = (n) => n): [JsonTree, (n: JsonTree) => JsonTree][] {
  const here: [JsonTree, (n: JsonTree) => JsonTree] = [t, rebuild];
  if ("items" in t) {
    return [here, ...t.items.flatMap((item, i) => nodes(item, (n) => rebuild({ items: t.items.map((x, j) => (j === i ? n : x)) })))];
  }
  if ("entries" in t) {
    return [
      here,
      ...t.entries.flatMap(([k, v], i) =>
        nodes(v, (n) => rebuild({ entries: t.entries.map((e, j): [string, JsonTree] => (j === i ? [k, n] : e)) })),
      ),
    ];
  }
  return [here];
}

function applyMutation(t: JsonTree, m: Mutation): JsonTree {
  const all = nodes(t);
  const [node, rebuild] = all[m.at % all.length] as [JsonTree, (n: JsonTree) => JsonTree];
  switch (m.kind) {
    case "replace":
      return rebuild(m.with);
    case "add":
      if ("entries" in node) return rebuild({ entries: [...node.entries, [m.key, m.with]] });
      if ("items" in node) return rebuild({ items: [...node.items, m.with] });
      return rebuild(m.with);
    case "duplicate": {
      if (!("entries" in node) || node.entries.length === 0) return rebuild(m.with);
      const [key] = node.entries[m.at % node.entries.length] as [string, JsonTree];
      return rebuild({ entries: [...node.entries, [key, m.with]] });
    }
    case "drop":
      if ("entries" in node) return rebuild({ entries: node.entries.filter((_, i) => i !== m.at % node.entries.length) });
      if ("items" in node) return rebuild({ items: node.items.filter((_, i) => i !== m.at % node.items.length) });
      return rebuild({ text: "null" });
    case "repeat": {
      // A thousand copies of something small passes the body limit and tests the item limits;
      // of something large it is only another oversized body, and slow to build.
      const times = render(node).length > 1000 ? 2 : m.times;
      if ("items" in node && node.items.length > 0) return rebuild({ items: Array.from({ length: times }, () => node.items).flat() });
      return rebuild({ items: Array.from({ length: times }, () => node) });
    }
  }
}

/** A valid body with one to three hostile changes anywhere in it. */
export function mutated(valid: fc.Arbitrary<JsonTree>): fc.Arbitrary<JsonTree> {
  return fc
    .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
    .map(([t, ms]) => ms.reduce((acc, m) => applyMutation(acc, m), t));
}

/** Text no JSON parser accepts, or accepts as something other than an object. */
export const malformedJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "{",
    "}",
    "[",
    '{"a":}',
    '{"a":1,}',
    "{'a':1}",
    "{a:1}",
    "NaN",
    "Infinity",
    "undefined",
    "null",
    "true",
    "[]",
    '"text"',
    "1e400",
    "\ufeff{}",
    '{"a":"\\ud800"}',
    '{"a":"\\u0000"}',
    '{"a":"\\x41"}',
    '{"a":01}',
    "{}{}",
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
  ),
  fc.string({ maxLength: 40 }),
  hostileJson.map(render).map((text) => text.slice(0, Math.max(1, text.length - 1))),
);

/** Raw bytes that are not UTF-8, inside something JSON-shaped. */
export const invalidUtf8: fc.Arbitrary<Uint8Array> = fc
  .constantFrom([0xc3, 0x28], [0xed, 0xa0, 0x80], [0xff, 0xfe], [0xf0, 0x9f, 0x98], [0xc0, 0x80])
  .map((bad) => new Uint8Array([...Buffer.from('{"workerId":"'), ...bad, ...Buffer.from('","fenceToken":1}')]));

/** Just over the default 1 MiB body limit. */
export const OVERSIZED = `{"pad":"${"x".repeat(1024 * 1024 + 16)}"}`;

const JSON_TYPE = "application/json";
export const contentType: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(JSON_TYPE) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      "text/plain",
      "application/json; charset=utf-16",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/yaml",
      "application/vnd.api+json",
      "APPLICATION/JSON",
      "json",
      "",
    ),
  },
);

/**
 * A body for a route that takes JSON: mostly its valid body mutated, else a whole-body attack
 * (hostile or malformed JSON, 10,000-deep nesting, invalid UTF-8, an oversized body), sent with
 * mostly the right content type. `validWeight` sends the valid body unchanged now and then.
 */
export function jsonBody(valid: fc.Arbitrary<JsonTree>, validWeight = 1): fc.Arbitrary<{ body: string | Uint8Array; type?: string }> {
  const text = fc.oneof(
    { weight: validWeight, arbitrary: valid.map(render) },
    { weight: 30, arbitrary: mutated(valid).map(render) },
    { weight: 4, arbitrary: hostileJson.map(render) },
    { weight: 4, arbitrary: malformedJson },
    { weight: 1, arbitrary: deepNesting.map(render) },
    { weight: 1, arbitrary: invalidUtf8 },
    { weight: 1, arbitrary: fc.constant(OVERSIZED) },
  );
  return fc.record({ body: text, type: contentType }, { requiredKeys: ["body"] });
}

/**
 * Percent-encoding that also carries lone surrogates, as the 3-byte sequences a hostile client can
 * send (encodeURIComponent refuses them).
 */
export function percentEncode(s: string): string {
  if (!/[\ud800-\udfff]/.test(s)) return encodeURIComponent(s);
  return s.replace(/[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c.length === 2 || code < 0xd800 || code > 0xdfff) return encodeURIComponent(c);
    return [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)].map((b) => `%${b.toString(16).toUpperCase()}`).join("");
  });
}

/** A path segment: a real id now and then, else a foreign or malformed one (percent-encoded as sent). */
export function idSegment(real: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...real) },
    { weight: 2, arbitrary: fc.uuid().map(String) },
    { weight: 1, arbitrary: fc.constantFrom(...real).map((id) => id.toUpperCase()) },
    { weight: 1, arbitrary: fc.constantFrom(...real).map((id) => `${id}0`) },
    {
      weight: 4,
      arbitrary: fc.oneof(
        hostileString.filter((s) => s !== "").map(percentEncode),
        fc.constantFrom("%ZZ", "%", "%C3%28", "%ED%A0%80", "%00", "..%2F..", "%2F", "x".repeat(3000), "{id}", ";", "null"),
      ),
    },
  );
}

/** A query string over `params` (valid values given), with hostile, repeated and unknown keys. */
export function queryString(params: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const names = Object.keys(params);
  const pair = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...names).chain((k) => fc.tuple(fc.constant(k), params[k] as fc.Arbitrary<string>)) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...names), hostileString) },
    { weight: 1, arbitrary: fc.tuple(hostileKey, hostileString) },
  );
  const encoded = fc
    .array(pair, { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`).join("&"));
  const raw = fc.constantFrom("%ZZ=1", "limit=%", "a=%ED%A0%80", "&&&", "=", "limit", "state[]=x&state[]=y");
  return fc.oneof({ weight: 6, arbitrary: encoded }, { weight: 1, arbitrary: raw }).map((q) => (q ? `?${q}` : ""));
}

/**
 * YAML aimed at the parser: billion-laughs alias bombs (expanded and merge-key forms), recursive
 * anchors, language-specific tags, `__proto__` keys, duplicate keys, several documents.
 */
export const hostileYaml: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 2, max: 12 }).map((levels) => {
    const lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"];
    for (let i = 1; i < levels; i++)
      lines.push(
        `l${i}: &l${i} [${Array(9)
          .fill(`*l${i - 1}`)
          .join(", ")}]`,
      );
    return `name: bomb\nsteps: [{name: a}]\n${lines.join("\n")}\n`;
  }),
  fc.integer({ min: 2, max: 10 }).map((levels) => {
    const lines = ["s0: &s0 {name: a, queue: q}"];
    for (let i = 1; i < levels; i++)
      lines.push(
        `s${i}: &s${i} [${Array(10)
          .fill(`*s${i - 1}`)
          .join(", ")}]`,
      );
    return `${lines.join("\n")}\nname: bomb\nsteps: *s${levels - 1}\n`;
  }),
  fc.constantFrom(
    "name: r\nsteps: &a [*a]\n",
    "name: r\nsteps: &a [{name: a, objectType: *a}]\n",
    "orchName: r\nas: worker\nservice: s\nsteps: &a [{name: a, x: *a}]\n",
    "base: &b {queue: q}\nname: m\nsteps: [{<<: *b, name: a}]\n",
    "name: t\nsteps: [{name: !!js/function 'function(){}'}]\n",
    "name: t\nsteps: !!binary aGVsbG8=\n",
    "name: t\nsteps: !!set {a, b}\n",
    "name: t\nsteps: !!omap [a: 1]\n",
    "name: t\nsteps: [{name: a, leaseMs: .inf}]\n",
    "name: t\nsteps: [{name: a, leaseMs: .nan}]\n",
    "name: t\nsteps: [{name: a, leaseMs: 1e999}]\n",
    "name: t\nsteps: [{name: 2001-12-14}]\n",
    "__proto__: {polluted: true}\nname: p\nsteps: [{name: a}]\n",
    "name: d\nname: e\nsteps: [{name: a}]\n",
    "name: a\n---\nname: b\n",
    "? [a, b]\n: c\n",
    "name: 'unterminated\n",
    "\tname: tab\n",
    'name: x\nsteps: [{name: "\\0"}]\n',
    'name: x\nsteps: [{name: "\\ud800"}]\n',
    "%YAML 9.9\n---\nname: x\n",
    "!<tag:evil.example,2000:x> {name: x}\n",
  ),
);
