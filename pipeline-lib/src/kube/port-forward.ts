import net from "node:net";
import * as k8s from "@kubernetes/client-node";

interface Closable {
  close(): void;
}

/** A local port on 127.0.0.1 that tunnels to a pod's port through the API server. */
export interface PortForward extends AsyncDisposable {
  readonly port: number;
  readonly url: string;
}

/**
 * Listens on 127.0.0.1 (an ephemeral port) and forwards each connection to
 * `pod`:`port` over the API server's portforward subresource, as
 * `kubectl port-forward` does. Dispose it to close the listener and every tunnel.
 */
export async function forwardPort(
  kubeConfig: k8s.KubeConfig,
  target: { namespace: string; pod: string; port: number },
): Promise<PortForward> {
  const forward = new k8s.PortForward(kubeConfig);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    forward
      .portForward(target.namespace, target.pod, [target.port], socket, null, socket)
      .then((ws: unknown) => {
        // isomorphic-ws's types do not resolve here; both shapes have close().
        const handle = ws as Closable | (() => Closable | null);
        const close = () => (typeof handle === "function" ? handle()?.close() : handle.close());
        socket.on("close", close);
        if (socket.destroyed) close();
      })
      .catch((cause: unknown) =>
        socket.destroy(
          new Error(`port-forward to pod ${target.namespace}/${target.pod}:${target.port} failed`, {
            cause,
          }),
        ),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("listener has no TCP port");
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    async [Symbol.asyncDispose]() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
