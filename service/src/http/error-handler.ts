import type { Middleware } from "koa";
import { STATUS_CODES } from "node:http";
import { StoreUnavailableError } from "../store/visit-store.js";
import type { RequestState } from "./request-id.js";

interface HttpErrorLike {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  headers?: unknown;
  message?: unknown;
}

/**
 * Turns every failure into a JSON body `{ error, message, requestId }`.
 * Only errors marked `expose` (ctx.throw with a 4xx) show their message; 5xx
 * bodies stay generic and the details go to the log. A response that ends
 * with an error status and no body (404 from no route, 405 from the router)
 * gets the same JSON shape.
 */
export function errorHandler(): Middleware<RequestState> {
  return async (ctx, next) => {
    try {
      await next();
      const status = ctx.status;
      if (status >= 400 && ctx.body == null) {
        ctx.body = errorBody(status, statusText(status), ctx.state.requestId);
        // Assigning a body makes Koa assume 200 unless a status was set explicitly.
        ctx.status = status;
      }
    } catch (caught) {
      const err = (typeof caught === "object" && caught !== null ? caught : {}) as HttpErrorLike;
      const status =
        caught instanceof StoreUnavailableError ? 503 : httpStatus(err.status ?? err.statusCode);
      const expose = status < 500 && err.expose === true && typeof err.message === "string";
      let message = expose ? String(err.message) : statusText(status);

      if (caught instanceof StoreUnavailableError) {
        // An outage is expected and loud enough in /readyz; no stack per request.
        message = "the visit store is unavailable; try again shortly";
        ctx.state.log.warn({ status, reason: caught.message }, "store unavailable");
      } else if (status >= 500) {
        ctx.state.log.error({ err: caught, status }, "request failed");
      } else {
        ctx.state.log.info({ status, reason: err.message }, "request rejected");
      }

      if (err.headers !== null && typeof err.headers === "object") {
        ctx.set(err.headers as Record<string, string>);
      }
      if (status === 503) ctx.set("Retry-After", "1");
      ctx.status = status;
      ctx.body = errorBody(status, message, ctx.state.requestId);
    }
  };
}

function httpStatus(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value >= 400 && value <= 599
    ? value
    : 500;
}

function statusText(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}

function errorBody(status: number, message: string, requestId: string) {
  return { error: statusText(status), message, requestId };
}
