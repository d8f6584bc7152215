import type { Context, Middleware } from "koa";
import helmet from "koa-helmet";
import { HOME_PAGE_STYLE_HASH } from "../pages/render-home-page.js";

/**
 * helmet's options: its defaults, with a Content-Security-Policy that allows
 * nothing but the page's own stylesheet (by hash).
 */
export const SECURITY_HEADER_OPTIONS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      styleSrc: [HOME_PAGE_STYLE_HASH],
      imgSrc: ["'self'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
} satisfies Parameters<typeof helmet>[0];

export interface SecurityHeaders {
  set: [name: string, value: string][];
  removed: string[];
}

/**
 * What helmet sets and removes with these options. None of the options
 * depends on the request (no CSP nonce, no directive function), so helmet
 * answers the same for every request: it runs once, here, against a response
 * that only records, instead of on every request. helmet sets its headers
 * synchronously; the check below fails at start if a version stops doing so.
 */
export function computeSecurityHeaders(): SecurityHeaders {
  const set: [string, string][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader: (name: string, value: unknown) => void set.push([name, String(value)]),
    removeHeader: (name: string) => void removed.push(name),
  };
  const ctx = { req: { headers: {} }, res: recorder } as unknown as Context;
  void helmet(SECURITY_HEADER_OPTIONS)(ctx, () => Promise.resolve());
  if (set.length === 0)
    throw new Error("helmet set no headers synchronously; cannot precompute them");
  return { set, removed };
}

/** Sets helmet's security headers, computed once, on every response. */
export function securityHeaders(): Middleware {
  const { set, removed } = computeSecurityHeaders();
  return (ctx, next) => {
    const res = ctx.res;
    for (const [name, value] of set) res.setHeader(name, value);
    for (const name of removed) res.removeHeader(name);
    return next();
  };
}
