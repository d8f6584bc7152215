import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { rejection } from "../test-support/rejection.js";
import { NotReadOnly, getFromPod, serviceProxyFetch } from "./api-proxy.js";

/** A stand-in API server on loopback: it records each request and answers what `answer` says. */
async function apiServer(answer: (request: http.IncomingMessage) => [number, string]) {
  const seen: { method: string; url: string }[] = [];
  const server = http.createServer((request, response) => {
    seen.push({ method: request.method ?? "", url: request.url ?? "" });
    const [status, body] = answer(request);
    response.writeHead(status, { "content-type": "text/plain" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: "c",
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        // client-node speaks plain HTTP only with this set; there is no TLS here to skip.
        skipTLSVerify: true,
      },
    ],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return {
    kubeConfig,
    seen,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("the API server's proxy to pods and Services", () => {
  it("GETs a pod's path through pods/<pod>:<port>/proxy, with its query", async () => {
    await using api = await apiServer(() => [200, "# metrics\nx 1\n"]);
    const answer = await getFromPod(api.kubeConfig, "prod", "app-1", 3000, "/metrics?name=x");
    expect(answer.status).to.equal(200);
    expect(answer.body).to.equal("# metrics\nx 1\n");
    expect(api.seen).to.deep.equal([
      { method: "GET", url: "/api/v1/namespaces/prod/pods/app-1:3000/proxy/metrics?name=x" },
    ]);
  });

  it("the Service fetch passes the app's own answer on, a 500 included", async () => {
    await using api = await apiServer(() => [500, "this release breaks /version"]);
    const target = serviceProxyFetch(api.kubeConfig, "prod", "visit-counter", "http");
    const response = await target.fetch(`${target.baseUrl}/version`);
    expect(response.status).to.equal(500);
    expect(await response.text()).to.equal("this release breaks /version");
    expect(api.seen).to.deep.equal([
      { method: "GET", url: "/api/v1/namespaces/prod/services/visit-counter:http/proxy/version" },
    ]);
  });

  it("refuses, before anything is sent, a request that is not GET or HEAD, or not to the Service", async () => {
    await using api = await apiServer(() => [200, "ok"]);
    const target = serviceProxyFetch(api.kubeConfig, "prod", "visit-counter", "http");
    const post = await rejection(target.fetch(`${target.baseUrl}/api/visits`, { method: "POST" }));
    expect(post).to.be.instanceOf(NotReadOnly);
    expect(post.message).to.include("a check sent POST /api/visits");
    const elsewhere = await rejection(target.fetch("http://127.0.0.1:9/elsewhere"));
    expect(elsewhere).to.be.instanceOf(NotReadOnly);
    expect(elsewhere.message).to.include("may only reach Service prod/visit-counter");
    expect(api.seen).to.deep.equal([]);
    expect((post as NotReadOnly).exitCode).to.equal(2);
  });
});
