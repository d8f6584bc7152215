import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Middleware } from "koa";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** Ids from upstream proxies are kept when they are short and plain; anything else is replaced. */
const SANE_REQUEST_ID = /^[\w.:-]{1,128}$/;

export interface RequestState {
  requestId: string;
  /** A child logger bound to the request id. */
  log: Logger;
}

/**
 * The request's state. Most requests log only their access line, which the
 * access log writes with the request id itself; the child logger is made the
 * first time a handler asks for `log` (an error, a failed readiness check).
 */
class RequestStateWithLog implements RequestState {
  #log: Logger | undefined;

  constructor(
    private readonly logger: Logger,
    readonly requestId: string,
  ) {}

  get log(): Logger {
    return (this.#log ??= this.logger.child({ requestId: this.requestId }));
  }
}

/** Gives every request an id, echoes it in the response and binds it to a child logger. */
export function requestId(logger: Logger): Middleware<RequestState> {
  return (ctx, next) => {
    const incoming = ctx.req.headers["x-request-id"];
    const id =
      typeof incoming === "string" && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state = new RequestStateWithLog(logger, id);
    ctx.res.setHeader(REQUEST_ID_HEADER, id);
    return next();
  };
}
