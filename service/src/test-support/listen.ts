import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { App } from "../app.js";

export interface Listening extends AsyncDisposable {
  server: Server;
  baseUrl: string;
}

/** Serves the app on an ephemeral loopback port; dispose to close it. */
export async function listen(app: App): Promise<Listening> {
  const handle = app.callback();
  const server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    baseUrl: `http://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
