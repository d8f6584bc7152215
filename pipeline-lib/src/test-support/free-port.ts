import { createServer } from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, for servers that must be
 * told their port up front (a registry config, a Redis that keeps its port
 * across restarts).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("could not find a free port on 127.0.0.1"));
      });
    });
  });
}
