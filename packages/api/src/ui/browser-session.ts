import { BatonError } from "@baton/engine";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

/**
 * A browser cannot send `Authorization: Bearer`, so the console keeps the API key the user pasted
 * in an HttpOnly, SameSite=Strict cookie and presents it as that header, for the browser's pages
 * only (/ui, /docs, /openapi.json): the API routes never take a cookie, so a page elsewhere can
 * never make a browser act on Baton. The console's own actions (POST /ui/...) must also come from
 * Baton's origin. The API's auth middleware then decides as it does for any caller.
 */

export const SESSION_COOKIE = "baton_session";
/** A session lasts a working day; signing in again is pasting the key again. */
const SESSION_SECONDS = 12 * 60 * 60;

/** Paths anyone may load: the sign-in page and the console's static files. */
export const UI_PUBLIC_PATHS = ["/ui/login", "/ui/logout", "/ui/assets/ui.css", "/ui/assets/ui.js"] as const;

function isBrowserPath(path: string): boolean {
  return path === "/ui" || path.startsWith("/ui/") || path === "/docs" || path === "/openapi.json";
}

/** Runs before the API's authentication: cookie to bearer header, same-origin check, sign-in redirect. */
export function browserSession(): MiddlewareHandler {
  return async function browserSession(c, next) {
    const path = c.req.path;
    if (!isBrowserPath(path)) return next();
    const token = getCookie(c, SESSION_COOKIE);
    if (token && !c.req.header("authorization")) c.req.raw.headers.set("authorization", `Bearer ${token}`);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") requireSameOrigin(c);
    await next();
    // A page (not a script's fetch) that needs a key sends the browser to sign in.
    if (c.res.status === 401 && c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html")) {
      c.res = c.redirect(`/ui/login?next=${encodeURIComponent(path)}${token ? "&expired=1" : ""}`, 303);
    }
  };
}

/**
 * Refuses a state-changing request that a browser says came from another site (the Origin header,
 * which browsers send with every form post and fetch POST). A client without a browser sends none.
 */
function requireSameOrigin(c: Context): void {
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  // Compared by host: behind a TLS proxy the browser's scheme is not the one this process sees.
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  const foreign = origin !== undefined && (origin === "null" || URL.parse(origin)?.host !== host);
  if (foreign || (site !== undefined && site !== "same-origin" && site !== "none")) {
    throw new BatonError("FORBIDDEN", "The console takes actions only from its own pages (cross-site request refused)", {
      origin: origin ?? null,
    });
  }
}

export function startSession(c: Context, token: string): void {
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: "Strict",
    secure: new URL(c.req.url).protocol === "https:",
    path: "/",
    maxAge: SESSION_SECONDS,
  });
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/" });
}

/** Where to go after signing in: a console or docs path only, so the form cannot send a user elsewhere. */
export function safeNext(next: string | undefined): string {
  return next && /^\/(ui|docs)(\/[\w\-./%]*)?$/.test(next) ? next : "/ui";
}
