import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { expect } from "chai";
import { ExitCode, UsageError } from "../../pipeline-lib/src/errors.js";
import { assertApiReachable, loadKubeTarget } from "../../pipeline-lib/src/kube/kube-target.js";
import { freePort } from "../support/free-port.js";
import { rejection } from "../support/rejection.js";
import { kubeTestCluster } from "./kube-test-support.js";

describe("kube assertApiReachable: the API server answers and accepts us, or exit 2 @slow", function () {
  this.timeout(30_000);
  let kubeConfig: k8s.KubeConfig;
  let dir: string;

  before(async function () {
    this.timeout(60 * 60_000);
    kubeConfig = (await kubeTestCluster()).kubeConfig;
    dir = await mkdtemp(path.join(os.tmpdir(), "kube-reach-"));
  });

  after(async function () {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The cluster's kubeconfig with its cluster and user edited, through a file as a user has it. */
  async function variant(
    name: string,
    edit: { cluster?: Partial<k8s.Cluster>; user?: k8s.User },
  ): Promise<string> {
    const cluster = { ...kubeConfig.getCurrentCluster()!, ...edit.cluster };
    const user = edit.user ?? kubeConfig.getCurrentUser()!;
    const edited = new k8s.KubeConfig();
    edited.loadFromOptions({
      clusters: [cluster],
      users: [user],
      contexts: [{ name, cluster: cluster.name, user: user.name }],
      currentContext: name,
    });
    const file = path.join(dir, name);
    await writeFile(file, edited.exportConfig());
    return file;
  }

  async function unreachable(file: string): Promise<UsageError> {
    const target = loadKubeTarget({ kubeconfig: file, env: {} });
    const error = await rejection(assertApiReachable(target, { timeoutMs: 5000 }));
    expect(error).to.be.instanceOf(UsageError);
    expect((error as UsageError).exitCode).to.equal(ExitCode.Usage);
    expect(error.message).to.contain(`the Kubernetes API server ${target.server} (context `);
    return error as UsageError;
  }

  it("returns the server's version and who we are", async function () {
    const server = kubeConfig.getCurrentCluster()!.server;
    const info = await assertApiReachable({ kubeConfig, context: "test", server });
    expect(info.version).to.match(/^v1\.\d+\.\d+/);
    expect(info.user).to.be.a("string").and.not.equal("system:anonymous");
  });

  it("names a server nothing listens on, and the socket error", async function () {
    const port = await freePort();
    const file = await variant("refused", { cluster: { server: `https://127.0.0.1:${port}` } });
    const error = await unreachable(file);
    expect(error.message).to.match(
      /^cannot reach the Kubernetes API server https:\/\/127\.0\.0\.1:\d+ \(context refused\): /,
    );
    expect(error.message).to.contain("ECONNREFUSED");
    expect(error.message).to.match(/; check that the cluster is running .*npm run testbed:up\)$/);
  });

  it("names a server whose certificate the kubeconfig does not trust", async function () {
    const file = await variant("untrusted", {
      cluster: { caFile: undefined, caData: undefined, skipTLSVerify: false },
    });
    const error = await unreachable(file);
    expect(error.message).to.match(/certificate/i);
    expect(error.message).to.contain("check the kubeconfig's certificate-authority");
  });

  it("says the credentials were refused on a 401", async function () {
    const file = await variant("bad-token", {
      user: { name: "intruder", token: "not-a-valid-token" },
    });
    const error = await unreachable(file);
    expect(error.message).to.contain("answered HTTP 401: Unauthorized");
    expect(error.message).to.contain(
      "the kubeconfig's token was refused although it has not expired: it was revoked",
    );
  });

  it("says when the kubeconfig's token expired, and what to do (exit 2)", async function () {
    // A JWT whose exp passed an hour ago (the signature does not matter: the server refuses it).
    const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const exp = Math.floor(Date.now() / 1000) - 3600;
    const file = await variant("expired-token", {
      user: { name: "deployer", token: `${part({ alg: "RS256" })}.${part({ exp })}.c2ln` },
    });
    const error = await unreachable(file);
    expect(error.exitCode).to.equal(2);
    expect(error.message).to.contain("answered HTTP 401");
    expect(error.message).to.contain(
      `the kubeconfig's token expired at ${new Date(exp * 1000).toISOString()}: mint a new one`,
    );
  });

  it("surfaces an exec credential plugin that fails, as with a missing aws CLI", async function () {
    const file = await variant("exec", {
      user: {
        name: "eks-user",
        exec: {
          apiVersion: "client.authentication.k8s.io/v1beta1",
          command: "/nonexistent/aws",
          args: ["eks", "get-token", "--cluster-name", "prod"],
        },
      },
    });
    const error = await unreachable(file);
    expect(error.message).to.contain("spawn /nonexistent/aws ENOENT");
    expect(error.message).to.contain("exec credential plugin could not run");
  });
});
