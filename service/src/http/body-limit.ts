import type { Middleware } from "koa";

/**
 * Rejects requests whose declared body is larger than `limitBytes` before
 * anything reads it. Chunked bodies of unknown length are bounded by the body
 * parser, which stops reading at the same limit.
 */
export function bodyLimit(limitBytes: number): Middleware {
  return (ctx, next) => {
    const declared = Number(ctx.get("Content-Length") || 0);
    if (declared > limitBytes) {
      ctx.throw(413, `request body is larger than ${limitBytes} bytes`);
    }
    return next();
  };
}

/**
 * Runs `middleware` only for requests whose method is one of `methods`, and
 * passes every other request straight on: the body parser does nothing but
 * that check for GET and HEAD, and this saves its async step on them.
 */
export function onlyForMethods(methods: readonly string[], middleware: Middleware): Middleware {
  const wanted = new Set(methods);
  return (ctx, next) =>
    wanted.has(ctx.method) ? (middleware(ctx, next) as Promise<unknown>) : next();
}
