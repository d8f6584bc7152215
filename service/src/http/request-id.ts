import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Middleware } from "koa";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** Ids from upstream proxies are kept when they are short and plain; anything else is replaced. */
const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface RequestState {
  requestId: string;
  log: Logger;
}

/** Gives every request an id, echoes it in the response and binds it to a child logger. */
export function requestId(logger: Logger): Middleware<RequestState> {
  return async (ctx, next) => {
    const incoming = ctx.get(REQUEST_ID_HEADER);
    const id = SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = id;
    ctx.state.log = logger.child({ requestId: id });
    ctx.set(REQUEST_ID_HEADER, id);
    await next();
  };
}
