import { expect } from "chai";
import { connect } from "node:net";
import { gzipSync } from "node:zlib";
import { listen, type Listening } from "./test-support/listen.js";
import { testApp, type TestApp } from "./test-support/test-app.js";

/**
 * Hostile and malformed requests over real HTTP on 127.0.0.1, most of them
 * through a raw socket so that nothing in a client library tidies them up.
 * Each must get the right 4xx, never a 5xx, the server must answer the next
 * request, and nothing sent may come back unescaped.
 */

const BODY_LIMIT = 16 * 1024;
const SCRIPT = "<script>alert(1)</script>";
const ROUTES = ["/", "/api/visits", "/healthz", "/readyz", "/metrics", "/version"];

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Writes bytes to a fresh connection and parses whatever comes back. */
function rawRequest(port: number, bytes: Buffer | string, { halfClose = false } = {}) {
  return new Promise<RawResponse>((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within 3 s; got ${Buffer.concat(chunks).toString()}`));
    }, 3_000);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, headers: head, body: rest.join("\r\n\r\n") });
    });
    socket.on("connect", () => {
      socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
      if (halfClose) socket.end();
    });
  });
}

function get(path: string, headers = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`;
}

function post(body: Buffer | string, headers = "Content-Type: application/json\r\n"): Buffer {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
  const head =
    `POST /api/visits HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}` +
    `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), bytes]);
}

describe("service on bad input", () => {
  let app: TestApp;
  let http: Listening;
  let port: number;

  before(async () => {
    app = testApp({ bodyLimitBytes: BODY_LIMIT });
    http = await listen(app.app);
    port = Number(new URL(http.baseUrl).port);
  });
  after(async () => {
    await http[Symbol.asyncDispose]();
  });

  afterEach(async () => {
    // Nothing crashed: the same server still answers.
    const health = await fetch(`${http.baseUrl}/healthz`);
    expect(health.status).to.equal(200);
  });

  after(() => {
    // No hostile request became a server error.
    const serverErrors = app.logs.filter(
      (line) => Number(line.status) >= 500 || Number(line.level) >= 50,
    );
    expect(serverErrors).to.deep.equal([]);
  });

  /** A JSON error body: the documented shape, no echo of what was sent. */
  function expectJsonError(response: RawResponse, status: number, sent: string[] = []) {
    expect(response.status, response.headers).to.equal(status);
    expect(response.headers).to.match(/^content-type: application\/json/im);
    const body = JSON.parse(response.body) as Record<string, unknown>;
    expect(Object.keys(body)).to.deep.equal(["error", "message", "requestId"]);
    for (const text of [SCRIPT, ...sent]) expect(response.body).not.to.include(text);
  }

  describe("bodies", () => {
    it("answers 413 to a declared body over BODY_LIMIT_BYTES, before reading it", async () => {
      const body = JSON.stringify({ pad: "x".repeat(BODY_LIMIT) });
      expectJsonError(await rawRequest(port, post(body)), 413);
    });

    it("answers 413 to a chunked body that grows over the limit", async () => {
      const body = JSON.stringify({ pad: "x".repeat(BODY_LIMIT) });
      const request =
        "POST /api/visits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      expectJsonError(await rawRequest(port, request), 413);
    });

    it("answers 413 to a small gzip body that inflates over the limit", async () => {
      const bomb = gzipSync(JSON.stringify({ pad: "x".repeat(5_000_000) }));
      expect(bomb.length).to.be.below(BODY_LIMIT);
      const response = await rawRequest(
        port,
        post(bomb, "Content-Type: application/json\r\nContent-Encoding: gzip\r\n"),
      );
      expectJsonError(response, 413);
    });

    const invalidJson = [
      `{"name":"${SCRIPT}"`,
      SCRIPT,
      `"${SCRIPT}"`,
      "{'single': 'quotes'}",
      '{"__proto__":{"polluted":true}}',
      "\u0000\u0001\u0002",
    ];
    for (const body of invalidJson) {
      it(`answers 400 to an invalid JSON body without echoing it: ${JSON.stringify(body)}`, async () => {
        const response = await rawRequest(port, post(body));
        expectJsonError(response, 400, ['"name"', "single", "polluted"]);
        expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      });
    }

    for (const encoding of ["gzip", "deflate", "br"]) {
      it(`answers 400 to a body that claims ${encoding} but is not`, async () => {
        const response = await rawRequest(
          port,
          post("{}", `Content-Type: application/json\r\nContent-Encoding: ${encoding}\r\n`),
        );
        expectJsonError(response, 400);
      });
    }

    it("answers 415 to an unknown Content-Encoding without echoing it", async () => {
      const response = await rawRequest(
        port,
        post("{}", `Content-Type: application/json\r\nContent-Encoding: ${SCRIPT}\r\n`),
      );
      expectJsonError(response, 415);
    });

    it("answers 400 to a body cut off by the client", async () => {
      const request =
        "POST /api/visits HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        'Content-Length: 100\r\n\r\n{"a":';
      const response = await rawRequest(port, request, { halfClose: true });
      expect(response.status).to.equal(400);
    });

    it("answers 400 to a malformed, negative or doubled Content-Length", async () => {
      for (const headers of [
        "Content-Length: abc\r\n",
        "Content-Length: -1\r\n",
        "Content-Length: 2\r\nContent-Length: 3\r\n",
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
      ]) {
        const request = `POST /api/visits HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n{}`;
        expect((await rawRequest(port, request)).status, headers).to.equal(400);
      }
    });
  });

  describe("methods", () => {
    for (const method of ["PUT", "DELETE", "PATCH", "TRACE", "PROPFIND"]) {
      it(`answers 405 with Allow to ${method} on every route`, async () => {
        for (const path of ROUTES) {
          const response = await rawRequest(
            port,
            `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
          );
          expectJsonError(response, 405);
          const allow = path === "/api/visits" ? "HEAD, GET, POST" : "HEAD, GET";
          expect(response.headers, `${method} ${path}`).to.match(
            new RegExp(`^allow: ${allow}$`, "im"),
          );
        }
      });
    }

    it("answers OPTIONS on every route with 200, the Allow header and no body", async () => {
      for (const path of ROUTES) {
        const response = await rawRequest(
          port,
          `OPTIONS ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
        );
        expect(response.status, path).to.equal(200);
        expect(response.headers).to.match(/^allow: HEAD, GET/im);
        expect(response.body).to.equal("");
      }
    });

    it("does not count a POST /api/visits refused for its body", async () => {
      const before = (await (await fetch(`${http.baseUrl}/api/visits`)).json()) as {
        visits: number;
      };
      await rawRequest(port, post(SCRIPT));
      await rawRequest(port, post(JSON.stringify({ pad: "x".repeat(BODY_LIMIT) })));
      const after = (await (await fetch(`${http.baseUrl}/api/visits`)).json()) as {
        visits: number;
      };
      expect(after.visits).to.equal(before.visits);
    });
  });

  describe("paths", () => {
    const notFound = [
      "/..%2f",
      "/..%2f..%2f..%2fetc%2fpasswd",
      "/api/visits/..%2f..%2fhealthz",
      "/%00",
      "/api/visits%00",
      "/%",
      "/%zz",
      "/%E2%98%83",
      "/%F0%9F%92%A9/api/visits",
      "//api/visits",
      `/${encodeURIComponent(SCRIPT)}`,
      `/${"a".repeat(8_000)}`,
      "*",
    ];
    for (const path of notFound) {
      it(`answers 404 JSON to ${JSON.stringify(path.slice(0, 40))}`, async () => {
        const response = await rawRequest(port, get(path));
        expectJsonError(response, 404, [decodeURIComponent(SCRIPT)]);
        expect(response.body).not.to.include("aaaaaaaa");
      });
    }

    it("answers 400 to raw non-ASCII bytes in the request line", async () => {
      const response = await rawRequest(port, Buffer.from(get("/ünïcødé/☃"), "utf8"));
      expect(response.status).to.equal(400);
    });

    it("answers 431 to a path longer than the 16 KB header limit", async () => {
      const response = await rawRequest(port, get(`/${"a".repeat(20_000)}`));
      expect(response.status).to.equal(431);
    });

    it("ignores a query string with markup", async () => {
      const response = await rawRequest(port, get(`/?q=${SCRIPT}`));
      expect(response.status).to.equal(200);
      expect(response.body).to.include("<!doctype html>");
      expect(response.body).not.to.include(SCRIPT);
      expect(response.body).not.to.include("alert(1)");
    });
  });

  describe("headers", () => {
    it("answers 431 to a 17 KB Cookie header", async () => {
      const response = await rawRequest(
        port,
        get("/", `Cookie: visitor_id=${"a".repeat(17_000)}\r\n`),
      );
      expect(response.status).to.equal(431);
    });

    it("answers 431 to thousands of small headers", async () => {
      const many = Array.from({ length: 3_000 }, (_, i) => `X-Filler-${i}: v\r\n`).join("");
      expect((await rawRequest(port, get("/healthz", many))).status).to.equal(431);
    });

    it("answers 400 to a bare CR, a bare LF or a NUL inside a header value", async () => {
      for (const header of [
        "X-Test: a\rSet-Cookie: evil=1\r\n",
        "X-Test: a\nSet-Cookie: evil=1\r\n",
        "X-Test: a\u0000b\r\n",
      ]) {
        const response = await rawRequest(port, get("/healthz", header));
        expect(response.status, JSON.stringify(header)).to.equal(400);
        expect(response.headers).not.to.match(/evil/);
      }
    });

    it("answers 400 to bytes that are not HTTP at all", async () => {
      const tlsHello = Buffer.from("16030100a5010000a10303", "hex");
      expect((await rawRequest(port, tlsHello, { halfClose: true })).status).to.equal(400);
    });

    it("replaces an X-Request-Id carrying markup instead of reflecting it", async () => {
      const response = await rawRequest(port, get("/api/visits", `X-Request-Id: ${SCRIPT}\r\n`));
      expect(response.status).to.equal(200);
      expect(response.headers).to.match(/^x-request-id: [0-9a-f-]{36}$/im);
      expect(response.headers + response.body).not.to.include(SCRIPT);
    });

    const forgedCookies = [
      `visitor_id=${SCRIPT}`,
      `visitor_id=${encodeURIComponent(SCRIPT)}`,
      "visitor_id=%0d%0aSet-Cookie:%20evil=1",
      "visitor_id=x%0aLocation:%20http://evil.example",
      `visitor_id="${"\\".repeat(50)}"`,
      "visitor_id=; visitor_id=; visitor_id=",
    ];
    for (const cookie of forgedCookies) {
      it(`replaces a forged visitor cookie and reflects none of it: ${cookie.slice(0, 40)}`, async () => {
        for (const request of [
          get("/", `Cookie: ${cookie}\r\n`),
          post("{}", `Content-Type: application/json\r\nCookie: ${cookie}\r\n`),
        ]) {
          const response = await rawRequest(port, request);
          expect(response.status).to.equal(200);
          const setCookies = response.headers.match(/^set-cookie: .*$/gim) ?? [];
          expect(setCookies).to.have.length(1);
          expect(setCookies[0]).to.match(/^set-cookie: visitor_id=[0-9a-f-]{36}; path=\//i);
          expect(response.headers).not.to.match(/evil|^location:/im);
          expect(response.body).not.to.include(SCRIPT);
          expect(response.body).not.to.include("alert(1)");
          expect(response.body).not.to.include("evil");
        }
      });
    }
  });
});
