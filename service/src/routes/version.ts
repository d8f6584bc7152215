import type { Middleware } from "koa";
import type { BuildInfo } from "../config/load-config.js";

/** GET /version: what the image was built from (APP_VERSION, GIT_COMMIT, BUILD_TIME). */
export function version(build: BuildInfo): Middleware {
  return (ctx) => {
    ctx.body = build;
  };
}
