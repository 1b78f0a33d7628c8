import { createHash } from "node:crypto";
import { BatonError, type Caller, type Role } from "@baton/contract";
import type { Db } from "../db/database.ts";
import { hashSecret, newKeyId, newToken, parseToken, secretMatches } from "../domain/api-key-tokens.ts";
import { type ApiKeyRow, apiKeyActiveCount, apiKeyGet, apiKeyInsert, apiKeyList, apiKeyRevoke } from "../store/api-keys.ts";
import { executionNamespaces } from "../store/execution-namespaces.ts";
import { queueOwners } from "../store/queue-owners.ts";
import { isoTimes } from "./views.ts";

export interface NewApiKey {
  name: string;
  role: Role;
  /** Namespaces the key acts in; ["*"] = all (admin keys always have all). */
  namespaces: string[];
  /** Queue patterns a worker key may work (default ["*"]: any queue of its namespaces). */
  queues?: string[];
}

/** A key as it is shown: never its secret or hash. */
export interface ApiKeyView {
  keyId: string;
  name: string;
  role: Role;
  namespaces: string[];
  queues: string[];
  createdAt: string;
  revokedAt: string | null;
}

/**
 * API keys and the scope they carry. A secret is checked with scrypt once, then the answer is
 * remembered for `cacheMs` (by a SHA-256 of the token, never the token itself), so the hot path
 * pays a map lookup, not a key derivation. A revocation is seen at once by this process and
 * within `cacheMs` by the others.
 */
export class AccessCoordinator {
  private readonly verified = new Map<string, { caller: Promise<Caller | null>; until: number }>();
  private readonly owners = new Map<string, string>();
  private activeKeys: { count: Promise<number>; until: number } | undefined;

  constructor(
    private readonly db: Db,
    private readonly cacheMs = 10_000,
  ) {}

  /** Creates a key; the token is in the answer only, once. */
  async createKey(params: NewApiKey): Promise<{ key: ApiKeyView; token: string }> {
    const keyId = newKeyId();
    const token = newToken(keyId);
    await this.insert(keyId, token, params);
    return { key: keyView((await apiKeyGet(this.db, keyId)) as ApiKeyRow), token };
  }

  /**
   * Makes sure the key of `token` exists (e.g. BATON_ADMIN_KEY): inserts it when its id is new,
   * and refuses a token whose id exists with another secret or was revoked.
   */
  async ensureKey(token: string, params: NewApiKey): Promise<ApiKeyView> {
    const parsed = parseToken(token);
    if (!parsed) throw new BatonError("VALIDATION_ERROR", "The key is not a Baton key (baton_<16 hex>_<43 base64url>)");
    await this.insert(parsed.keyId, token, params);
    const row = (await apiKeyGet(this.db, parsed.keyId)) as ApiKeyRow;
    if (row.revokedAt || !(await secretMatches(parsed.secret, row.secretHash))) {
      throw new BatonError("INVALID_STATE", `Key ${parsed.keyId} exists with another secret or was revoked`, { keyId: parsed.keyId });
    }
    return keyView(row);
  }

  async listKeys(): Promise<ApiKeyView[]> {
    return (await apiKeyList(this.db)).map(keyView);
  }

  async revokeKey(keyId: string): Promise<ApiKeyView> {
    const row = await apiKeyRevoke(this.db, keyId);
    if (!row) throw new BatonError("NOT_FOUND", `No key ${keyId}`, { keyId });
    this.verified.clear();
    this.activeKeys = undefined;
    return keyView(row);
  }

  /** The caller a bearer token stands for, or null when it is no live key. */
  authenticate(token: string): Promise<Caller | null> {
    const cacheKey = createHash("sha256").update(token).digest("base64url");
    const cached = this.verified.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.caller;
    // Requests with the same key arriving together share one verification.
    const caller = this.verify(token);
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(cacheKey, { caller, until: Date.now() + this.cacheMs });
    caller.catch(() => this.verified.delete(cacheKey));
    return caller;
  }

  /**
   * How many keys are live (remembered for `cacheMs`): auth turns on with the first one. Callers
   * arriving together share one query, so a burst of requests costs one connection, not one each.
   */
  activeKeyCount(): Promise<number> {
    if (this.activeKeys && this.activeKeys.until > Date.now()) return this.activeKeys.count;
    const count = apiKeyActiveCount(this.db);
    this.activeKeys = { count, until: Date.now() + this.cacheMs };
    count.catch(() => {
      this.activeKeys = undefined;
    });
    return count;
  }

  /** The namespace owning each queue (queues nobody registered yet are absent). */
  async queueNamespaces(queues: string[]): Promise<Map<string, string>> {
    const unknown = queues.filter((q) => !this.owners.has(q));
    // A queue's owner never changes once claimed, so owners are remembered for good.
    if (unknown.length > 0) for (const [queue, namespace] of await queueOwners(this.db, unknown)) this.owners.set(queue, namespace);
    const answer = new Map<string, string>();
    for (const q of queues) {
      const owner = this.owners.get(q);
      if (owner !== undefined) answer.set(q, owner);
    }
    return answer;
  }

  /** The namespace of each execution (attempt) that exists, for telling a caller's own from another tenant's. */
  executionNamespaces(executionIds: string[]): Promise<Map<string, string>> {
    return executionNamespaces(this.db, executionIds);
  }

  private async insert(keyId: string, token: string, params: NewApiKey): Promise<void> {
    const secret = (parseToken(token) as { secret: string }).secret;
    await apiKeyInsert(this.db, {
      keyId,
      name: params.name,
      role: params.role,
      namespaces: params.role === "admin" ? ["*"] : params.namespaces,
      queues: params.role === "worker" ? (params.queues ?? ["*"]) : [],
      secretHash: await hashSecret(secret),
    });
    this.activeKeys = undefined;
  }

  private async verify(token: string): Promise<Caller | null> {
    const parsed = parseToken(token);
    if (!parsed) return null;
    const row = await apiKeyGet(this.db, parsed.keyId);
    if (!row || row.revokedAt || !(await secretMatches(parsed.secret, row.secretHash))) return null;
    return { keyId: row.keyId, name: row.name, role: row.role, namespaces: row.namespaces, queues: row.queues };
  }
}

function keyView(row: ApiKeyRow): ApiKeyView {
  const { secretHash: _, ...shown } = row;
  return isoTimes(shown);
}
