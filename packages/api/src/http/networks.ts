import { BlockList, isIP } from "node:net";

/*
 * Networks a route may be opened to without a key (METRICS_PUBLIC: a Prometheus scraper's
 * network), written as addresses or CIDR blocks: `10.0.0.0/8`, `192.168.1.7`, `fd00::/8`.
 */

/** Why `entry` is not an address or a CIDR block, or null when it is one. */
export function networkIssue(entry: string): string | null {
  const [address = "", prefix, extra] = entry.split("/");
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `'${entry}' is not an IP address or a CIDR block (e.g. 10.0.0.0/8)`;
  if (prefix === undefined) return null;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(prefix) && bits <= max ? null : `'${entry}': the prefix length must be 0 to ${max}`;
}

/** The networks of a list `networkIssue` accepts (throws on any other entry). */
export function parseNetworks(entries: readonly string[]): BlockList {
  const networks = new BlockList();
  for (const entry of entries) {
    const issue = networkIssue(entry);
    if (issue) throw new Error(issue);
    const [address = "", prefix] = entry.split("/");
    const type = isIP(address) === 4 ? "ipv4" : "ipv6";
    if (prefix === undefined) networks.addAddress(address, type);
    else networks.addSubnet(address, Number(prefix), type);
  }
  return networks;
}

/** Whether a peer address (as the socket reports it; IPv4 may come IPv6-mapped) is in `networks`. */
export function addressIn(networks: BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  const plain = mapped ?? address;
  const family = isIP(plain);
  return family !== 0 && networks.check(plain, family === 4 ? "ipv4" : "ipv6");
}
