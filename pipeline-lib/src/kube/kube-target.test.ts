import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ExitCode, UsageError } from "../errors.js";
import { loadKubeTarget } from "./kube-target.js";

/** A kubeconfig with two contexts; `eks` authenticates through an exec plugin, as EKS does. */
function kubeconfigYaml({ current = "local" }: { current?: string } = {}): string {
  return `apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: { server: "https://127.0.0.1:6443", certificate-authority: ca.crt }
  - name: eks
    cluster: { server: "https://ABC.gr7.eu-west-1.eks.amazonaws.com", certificate-authority-data: "" }
users:
  - name: admin
    user: { token: abc }
  - name: eks-user
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        command: aws
        args: [eks, get-token, --cluster-name, prod, --output, json]
        env: [{ name: AWS_PROFILE, value: deploy }]
contexts:
  - name: local
    context: { cluster: local, user: admin }
  - name: eks-prod
    context: { cluster: eks, user: eks-user, namespace: production }
${current ? `current-context: ${current}` : ""}
`;
}

describe("loadKubeTarget", function () {
  let dir: string;
  let file: string;

  beforeEach(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), "kube-target-"));
    file = path.join(dir, "config");
    await writeFile(file, kubeconfigYaml());
  });

  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  function usageError(load: () => unknown): UsageError {
    try {
      load();
    } catch (error) {
      expect(error).to.be.instanceOf(UsageError);
      expect((error as UsageError).exitCode).to.equal(ExitCode.Usage);
      return error as UsageError;
    }
    return expect.fail("expected a UsageError");
  }

  it("loads an explicit file with its current context, resolving relative paths", function () {
    const target = loadKubeTarget({ kubeconfig: file, env: {} });
    expect(target.context).to.equal("local");
    expect(target.server).to.equal("https://127.0.0.1:6443");
    expect(target.kubeConfig.getCurrentCluster()?.caFile).to.equal(path.join(dir, "ca.crt"));
  });

  it("switches to a named context and keeps an EKS exec plugin for client-node to run", function () {
    const target = loadKubeTarget({ kubeconfig: file, context: "eks-prod", env: {} });
    expect(target.context).to.equal("eks-prod");
    expect(target.server).to.equal("https://ABC.gr7.eu-west-1.eks.amazonaws.com");
    const user = target.kubeConfig.getCurrentUser();
    expect(user?.exec).to.deep.include({ command: "aws" });
  });

  it("finds KUBECONFIG's files, skipping missing ones, and else ~/.kube/config", async function () {
    const missing = path.join(dir, "missing");
    const fromEnv = loadKubeTarget({
      env: { KUBECONFIG: [missing, file].join(path.delimiter), HOME: "/nonexistent" },
    });
    expect(fromEnv.context).to.equal("local");
    await mkdir(path.join(dir, ".kube"));
    await writeFile(path.join(dir, ".kube", "config"), kubeconfigYaml({ current: "eks-prod" }));
    expect(loadKubeTarget({ env: { HOME: dir } }).context).to.equal("eks-prod");
  });

  it("names an explicit kubeconfig that does not exist, and says what to do", function () {
    const missing = path.join(dir, "nope.yaml");
    const error = usageError(() => loadKubeTarget({ kubeconfig: missing, env: {} }));
    expect(error.message).to.equal(
      `kubeconfig ${missing} does not exist; pass --kubeconfig <file> or set KUBECONFIG ` +
        `(for EKS: aws eks update-kubeconfig --name <cluster>)`,
    );
  });

  it("names a KUBECONFIG that points at nothing", function () {
    const missing = path.join(dir, "gone");
    const error = usageError(() => loadKubeTarget({ env: { KUBECONFIG: missing } }));
    expect(error.message).to.equal(
      `KUBECONFIG=${missing} names no file that exists; point it at a kubeconfig, or unset it to use ~/.kube/config`,
    );
  });

  it("says where it looked when there is no kubeconfig and no cluster around", function () {
    const error = usageError(() => loadKubeTarget({ env: { HOME: dir } }));
    expect(error.message).to.equal(
      `no kubeconfig: ${path.join(dir, ".kube", "config")} does not exist, KUBECONFIG is not set ` +
        `and this is not a pod in a cluster; pass --kubeconfig <file> or set KUBECONFIG ` +
        `(for EKS: aws eks update-kubeconfig --name <cluster>)`,
    );
  });

  it("lists the known contexts for an unknown one", function () {
    const error = usageError(() =>
      loadKubeTarget({ kubeconfig: file, context: "production", env: {} }),
    );
    expect(error.message).to.equal(
      "context production is not in the kubeconfig; known contexts: local, eks-prod",
    );
  });

  it("asks for a context when the kubeconfig sets none", async function () {
    await writeFile(file, kubeconfigYaml({ current: "" }));
    const error = usageError(() => loadKubeTarget({ kubeconfig: file, env: {} }));
    expect(error.message).to.equal(
      "the kubeconfig sets no current-context; pass --context with one of: local, eks-prod",
    );
  });

  it("names a file that is not a kubeconfig", async function () {
    await writeFile(file, "clusters: [unclosed\n");
    const error = usageError(() => loadKubeTarget({ kubeconfig: file, env: {} }));
    expect(error.message).to.match(new RegExp(`^cannot load kubeconfig ${file}: `));
  });
});
