import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";

/*
 * Which hosts HTTP steps may call: an operator setting (BATON_HTTP_STEP_HOSTS), so registering a
 * definition cannot turn Baton into a proxy into the network it sits in. A URL's host must be
 * listed by name, and every address it resolves to is checked as the connection is made (the
 * lookup below), so a listed name that resolves to loopback, link-local or a cloud metadata
 * address is refused unless that address is listed itself.
 */

export const HOSTS_VARIABLE = "BATON_HTTP_STEP_HOSTS";

/** One allowlist entry: a host name (`*.` for any subdomain, `*` for any name) or an address, with an optional port. */
interface HostRule {
  /** Lowercased name, `*.suffix`, `*`, or a normalised IP address. */
  host: string;
  port: number | null;
}

/** Why an HTTP step may not call somewhere; the step fails without a request and without retries. */
export class HostRefusedError extends Error {
  override readonly name = "HostRefusedError";
  readonly code = "BATON_HOST_REFUSED";
}

const NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const MAX_ENTRIES = 1000;

/**
 * The allowlist of hosts HTTP steps may call, from the variable's text: entries separated by
 * commas, each `name`, `*.domain`, `*`, an IPv4 address or a bracketed IPv6 one, with an optional
 * `:port`. Throws an Error naming the entry that is none of these.
 * @example HostPolicy.parse("payments.internal, *.svc.cluster.local, 127.0.0.1:8080")
 */
export class HostPolicy {
  private constructor(private readonly rules: readonly HostRule[]) {}

  static parse(text: string | undefined): HostPolicy {
    const entries = (text ?? "")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean);
    if (entries.length > MAX_ENTRIES) throw new Error(`${entries.length} entries, more than ${MAX_ENTRIES}`);
    return new HostPolicy(entries.map(parseEntry));
  }

  /** The entries as given (normalised), for messages. */
  get entries(): string[] {
    return this.rules.map((r) => (r.port === null ? bracketed(r.host) : `${bracketed(r.host)}:${r.port}`));
  }

  /** Why the URL's host may not be called, or null. Address checks come later, at connect time. */
  urlRefusal(url: URL): string | null {
    const host = unbracket(url.hostname.toLowerCase());
    const port = portOf(url);
    if (this.rules.length === 0) return `${HOSTS_VARIABLE} is not set: HTTP steps may call no host until an operator lists some`;
    if (!this.rules.some((r) => portMatches(r, port) && nameMatches(r.host, host))) {
      return `${url.host} is not in ${HOSTS_VARIABLE} (the hosts HTTP steps may call); an operator must list it`;
    }
    const kind = isIP(host) ? this.refusedKind(host, port) : null;
    return kind ? `${host} is ${kind}, which ${HOSTS_VARIABLE} must list itself to be called` : null;
  }

  /** The kind of a special address that is not listed itself ("a loopback address"), or null when it may be connected to. */
  private refusedKind(address: string, port: number): string | null {
    const normalised = normaliseAddress(address);
    const kind = specialAddressKind(normalised);
    if (!kind) return null;
    if (this.rules.some((r) => r.host === normalised && portMatches(r, port))) return null;
    return `a ${kind} address`;
  }

  /**
   * A DNS lookup for node:http that refuses the connection when the name resolves to an address
   * this policy refuses: the check is on the address actually connected to, not only the name.
   */
  lookupFor(port: number): LookupFunction {
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, "", 4);
        for (const { address } of addresses) {
          const kind = this.refusedKind(address, port);
          const message = `${hostname} resolves to ${address}, ${kind}, which ${HOSTS_VARIABLE} must list itself to be called`;
          if (kind) return callback(new HostRefusedError(message), "", 4);
        }
        const first = addresses[0];
        if (!first) return callback(new Error(`${hostname} resolved to no address`), "", 4);
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        callback(null, first.address, first.family);
      });
    };
  }
}

function parseEntry(entry: string): HostRule {
  const lower = entry.toLowerCase();
  if (/[/@?#\s]/.test(lower))
    throw new Error(`'${entry}' is not a host: write the host alone (api.example.com, or with :port), no scheme or path`);
  const bracket = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(lower);
  if (bracket) {
    if (isIP(bracket[1] as string) !== 6) throw new Error(`'${entry}' is not an IPv6 address in brackets`);
    return { host: normaliseAddress(bracket[1] as string), port: portNumber(entry, bracket[2]) };
  }
  if (isIP(lower) === 6) return { host: normaliseAddress(lower), port: null };
  const [host = "", port, extra] = lower.split(":");
  if (extra !== undefined) throw new Error(`'${entry}': write an IPv6 address in brackets, [::1]:8080`);
  if (host === "*" || isIP(host) === 4 || NAME.test(host)) {
    return { host: isIP(host) === 4 ? normaliseAddress(host) : host, port: portNumber(entry, port) };
  }
  throw new Error(`'${entry}' is not a host name, *.domain, *, or an IP address (with an optional :port)`);
}

function portNumber(entry: string, text: string | undefined): number | null {
  if (text === undefined) return null;
  const port = Number(text);
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65_535) throw new Error(`'${entry}': the port must be 1 to 65535`);
  return port;
}

const bracketed = (host: string) => (isIP(host) === 6 ? `[${host}]` : host);
const unbracket = (host: string) => (host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host);
const portOf = (url: URL) => (url.port ? Number(url.port) : url.protocol === "https:" ? 443 : 80);
const portMatches = (rule: HostRule, port: number) => rule.port === null || rule.port === port;

function nameMatches(pattern: string, host: string): boolean {
  // Any name or address: the special addresses are still refused unless listed themselves.
  if (pattern === "*") return true;
  if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) && isIP(host) === 0;
  return pattern === (isIP(host) ? normaliseAddress(host) : host);
}

/** IPv4-mapped IPv6 addresses as the IPv4 address they carry; IPv6 in its canonical form. */
function normaliseAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (isIP(address) !== 6) return address;
  const url = new URL(`http://[${address}]/`);
  const canonical = unbracket(url.hostname);
  // The URL parser writes a mapped address in hex (::ffff:7f00:1); read it back as IPv4.
  const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  return hexMapped ? hexToIPv4(hexMapped[1] as string, hexMapped[2] as string) : canonical;
}

function hexToIPv4(high: string, low: string): string {
  const h = Number.parseInt(high, 16);
  const l = Number.parseInt(low, 16);
  return [h >> 8, h & 255, l >> 8, l & 255].join(".");
}

/** Cloud metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254), ECS (169.254.170.2), Alibaba, AWS over IPv6. */
const METADATA = new Set(["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"]);

/** What kind of address this is, when it is one HTTP steps may reach only if listed, else null. */
export function specialAddressKind(address: string): string | null {
  if (METADATA.has(address)) return "cloud metadata";
  if (isIP(address) === 4) {
    const [a = 0, b = 0] = address.split(".").map(Number);
    if (a === 127) return "loopback";
    if (a === 169 && b === 254) return "link-local";
    if (a === 0) return "unspecified";
    if (a >= 224) return "multicast or reserved";
    return null;
  }
  if (address === "::1") return "loopback";
  if (address === "::") return "unspecified";
  if (/^fe[89ab]/.test(address)) return "link-local";
  if (address.startsWith("ff")) return "multicast";
  // NAT64 carries an IPv4 address in its last 32 bits: judge that one.
  const nat64 = /^64:ff9b::([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (nat64) return specialAddressKind(hexToIPv4(nat64[1] as string, nat64[2] as string));
  return null;
}
