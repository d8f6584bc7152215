import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";

/** How the receiver answers one request: a status, or no answer at all. */
export type Answer = { status: number; body?: string; headers?: Record<string, string> } | "hang";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Milliseconds since the receiver started. */
  at: number;
}

/**
 * A real HTTP server on 127.0.0.1 standing in for Slack's incoming webhook: it
 * records every request and answers from a script (the last answer repeats).
 * Its path looks like a Slack webhook's, secret included, so tests can check
 * that the secret is never printed.
 */
export class WebhookReceiver implements AsyncDisposable {
  readonly requests: ReceivedRequest[] = [];
  readonly secretPath = `/services/T0TEST/B0TEST/${Math.random().toString(36).slice(2, 14)}secret`;
  readonly #server;
  readonly #started = Date.now();

  private constructor(answers: Answer[]) {
    this.#server = createServer((request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => (body += chunk));
      request.on("end", () => {
        const answer = answers[Math.min(this.requests.length, answers.length - 1)]!;
        this.requests.push({
          method: request.method ?? "",
          path: request.url ?? "",
          headers: request.headers,
          body,
          at: Date.now() - this.#started,
        });
        if (answer === "hang") return;
        response.writeHead(answer.status, { "content-type": "text/plain", ...answer.headers });
        response.end(answer.body ?? (answer.status === 200 ? "ok" : ""));
      });
    });
  }

  static async start(...answers: Answer[]): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(answers.length > 0 ? answers : [{ status: 200 }]);
    await new Promise<void>((resolve, reject) => {
      receiver.#server.once("error", reject);
      receiver.#server.listen(0, "127.0.0.1", resolve);
    });
    return receiver;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${this.secretPath}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
