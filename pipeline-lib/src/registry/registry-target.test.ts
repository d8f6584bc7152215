import { BatchGetImageCommand, ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { expect } from "chai";
import { ECR_HOST as HOST, useEcrMock } from "../test-support/ecr-mock.js";
import { ConfigError } from "../errors.js";
import { EcrAuthProvider } from "./ecr-auth-provider.js";
import { EcrRegistry } from "./ecr-registry.js";
import { RegistryV2Client } from "./registry-v2-client.js";
import { resolveRegistryTarget } from "./registry-target.js";

type Config = Parameters<typeof resolveRegistryTarget>[0];

function config(repository: string, auth: Record<string, string>): Config {
  return { image: { repository }, registry: { auth } } as Config;
}

describe("resolveRegistryTarget", () => {
  const ecr = useEcrMock();

  it("ECR: the ECR API for tagging and the ECR token for pushing, through one client", async () => {
    const target = resolveRegistryTarget(config(`${HOST}/visit-counter`, { provider: "ecr" }), {});
    expect(target.reference).to.include({ registry: HOST, path: "visit-counter" });
    expect(target.registry).to.be.instanceOf(EcrRegistry);
    expect(target.registry.repository).to.equal(`${HOST}/visit-counter`);
    expect(target.auth).to.be.instanceOf(EcrAuthProvider);
    expect(target.auth.description).to.equal("ecr (region eu-west-1)");

    ecr.stub.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from("AWS:pw").toString("base64") }],
    });
    ecr.stub.on(BatchGetImageCommand).resolves({ images: [], failures: [] });
    await target.auth.credentials();
    await target.registry.resolveTag("tree-abc");
    const clients = ecr.stub.send.getCalls().map((call) => call.thisValue as unknown);
    expect(clients).to.have.length(2);
    expect(clients[0]).to.be.instanceOf(ECRClient);
    expect(clients[1]).to.equal(clients[0]);
  });

  it("basic and none: the Registry v2 API with the configured credentials", async () => {
    const basic = resolveRegistryTarget(
      config("127.0.0.1:5000/app", { provider: "basic", usernameEnv: "U", passwordEnv: "P" }),
      { U: "user", P: "secret" },
    );
    expect(basic.registry).to.be.instanceOf(RegistryV2Client);
    expect(basic.registry.repository).to.equal("127.0.0.1:5000/app");
    expect(basic.auth.description).to.equal("basic (U/P)");
    expect(await basic.auth.credentials()).to.deep.equal({
      username: "user",
      password: "secret",
      serveraddress: "127.0.0.1:5000",
    });
    const none = resolveRegistryTarget(config("127.0.0.1:5000/app", { provider: "none" }), {});
    expect(none.registry).to.be.instanceOf(RegistryV2Client);
    expect(await none.auth.credentials()).to.equal(undefined);
  });

  it("takes another repository than the config's (the artifact's, promote --repository)", () => {
    const target = resolveRegistryTarget(
      config("127.0.0.1:5000/app", { provider: "none" }),
      {},
      {},
      "127.0.0.1:5000/other",
    );
    expect(target.reference.repository).to.equal("127.0.0.1:5000/other");
    expect(target.registry.repository).to.equal("127.0.0.1:5000/other");
  });

  it("a bad repository ⇒ ConfigError naming it", () => {
    expect(() => resolveRegistryTarget(config("127.0.0.1:5000/App", { provider: "none" }), {}))
      .to.throw(ConfigError)
      .with.property("message")
      .that.includes('"127.0.0.1:5000/App"');
  });
});
