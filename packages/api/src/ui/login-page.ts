import type { Engine } from "@baton/engine";
import { type Context, Hono } from "hono";
import { html } from "hono/html";
import type { AppEnv } from "../http/env.ts";
import { endSession, safeNext, startSession } from "./browser-session.ts";
import { type Flash, page, SECURITY_HEADERS } from "./layout.ts";

/** Longest text the key field takes: a Baton token is 77 characters. */
const MAX_KEY_LENGTH = 200;

/** Sign-in (paste an API key) and sign-out of the console. */
export function loginRoutes(engine: Engine) {
  const router = new Hono<AppEnv>();

  const form = (c: Context, next: string, flash?: Flash, status: 200 | 401 = 200) =>
    c.html(
      page(
        "Sign in",
        "login",
        html`<form method="post" action="/ui/login" class="login">
  <input type="hidden" name="next" value="${next}">
  <label for="key">API key</label>
  <input id="key" name="key" type="password" autocomplete="off" required maxlength="${MAX_KEY_LENGTH}" placeholder="baton_…" autofocus>
  <button type="submit">Sign in</button>
</form>
<p class="note">The key is kept in a cookie only this server reads (HttpOnly, SameSite=Strict) for 12 hours, and the console acts
with its rights, as the API would. Create keys with <code>pnpm baton keys create</code> or POST /v1/keys.</p>`,
        flash ? { flash } : {},
      ),
      status,
      SECURITY_HEADERS,
    );

  router.get("/login", (c) => {
    const expired = c.req.query("expired") === "1";
    return form(
      c,
      safeNext(c.req.query("next")),
      expired ? { kind: "error", code: "UNAUTHORIZED", text: "The key of this browser is no longer valid: sign in again" } : undefined,
    );
  });

  router.post("/login", async (c) => {
    const body = await c.req.parseBody();
    const next = safeNext(typeof body.next === "string" ? body.next : undefined);
    const key = typeof body.key === "string" ? body.key.trim() : "";
    const caller = key.length > 0 && key.length <= MAX_KEY_LENGTH ? await engine.access.authenticate(key) : null;
    if (!caller) {
      return form(c, next, { kind: "error", code: "UNAUTHORIZED", text: "The API key is not valid: unknown, revoked or mistyped" }, 401);
    }
    startSession(c, key);
    return c.redirect(next, 303);
  });

  router.post("/logout", (c) => {
    endSession(c);
    return c.redirect("/ui/login", 303);
  });

  return router;
}
