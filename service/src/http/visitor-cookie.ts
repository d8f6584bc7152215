import { randomUUID } from "node:crypto";
import type { Context } from "koa";

export const VISITOR_COOKIE = "visitor_id";
const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Returns the first-party visitor id from the cookie, or issues a new one.
 * Only ids that look like ours are accepted, so a client cannot stuff
 * arbitrary strings into the HyperLogLog.
 */
export function visitorId(ctx: Context): string {
  const existing = ctx.cookies.get(VISITOR_COOKIE);
  if (existing !== undefined && UUID.test(existing)) return existing;
  const id = randomUUID();
  ctx.cookies.set(VISITOR_COOKIE, id, {
    httpOnly: true,
    sameSite: "lax",
    secure: ctx.secure,
    maxAge: ONE_YEAR_MS,
    path: "/",
    overwrite: true,
  });
  return id;
}
