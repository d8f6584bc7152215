/**
 * The ceiling for this stack: node:http and one ioredis INCR per request,
 * nothing else (no logging, metrics, headers or routing beyond a path check).
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=3001 node bench/bare-counter.ts
 *
 * GET / counts (INCR bare:hits) and answers the Compose counter's sentence;
 * GET /healthz answers {"status":"ok"} without Redis. The ioredis client has
 * its default options, as in the 51k req/s figure.
 */
import { createServer } from "node:http";
import { Redis } from "ioredis";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
const server = createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  if (req.url !== "/") {
    res.writeHead(404).end();
    return;
  }
  redis.incr("bare:hits").then(
    (count) => {
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`Hello World! I have been seen ${count} times.\n`);
    },
    () => {
      res.writeHead(503).end();
    },
  );
});
server.listen(Number(process.env.PORT ?? 3001), process.env.HOST ?? "127.0.0.1", () => {
  process.stdout.write(`listening\n`);
});
const stop = () => {
  server.close();
  redis.disconnect();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
