import type { Middleware } from "koa";

/**
 * Rejects requests whose declared body is larger than `limitBytes` before
 * anything reads it. Chunked bodies of unknown length are bounded by the body
 * parser, which stops reading at the same limit.
 */
export function bodyLimit(limitBytes: number): Middleware {
  return async (ctx, next) => {
    const declared = Number(ctx.get("Content-Length") || 0);
    if (declared > limitBytes) {
      ctx.throw(413, `request body is larger than ${limitBytes} bytes`);
    }
    await next();
  };
}
