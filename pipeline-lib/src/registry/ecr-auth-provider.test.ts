import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { expect } from "chai";
import { ECR_HOST as HOST, ECR_TARGET as TARGET, useEcrMock } from "../test-support/ecr-mock.js";
import { ConfigError, StageError } from "../errors.js";
import { EcrAuthProvider } from "./ecr-auth-provider.js";
import { resolveEcrTarget, type EcrTarget } from "./ecr-target.js";
import { parseRepository } from "../reference/image-reference.js";
import { rejection } from "../test-support/rejection.js";

const PASSWORD = "eyJwYXlsb2FkIjoiVG9wU2VjcmV0RWNyUGFzc3dvcmQifQ";

describe("EcrAuthProvider", () => {
  const ecr = useEcrMock();

  it("exchanges GetAuthorizationToken's base64 AWS:<password> for Docker credentials", async () => {
    ecr.stub.on(GetAuthorizationTokenCommand, { registryIds: ["123456789012"] }).resolves({
      authorizationData: [
        {
          authorizationToken: Buffer.from(`AWS:${PASSWORD}`).toString("base64"),
          proxyEndpoint: `https://${HOST}`,
          expiresAt: new Date("2026-11-26T10:00:00Z"),
        },
      ],
    });
    const credentials = await new EcrAuthProvider({ target: TARGET }).credentials();
    expect(credentials).to.deep.equal({
      username: "AWS",
      password: PASSWORD,
      serveraddress: `https://${HOST}`,
    });
    expect(ecr.stub.commandCalls(GetAuthorizationTokenCommand)).to.have.length(1);
  });

  it("uses the configured region for the default client", async () => {
    ecr.stub.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from("AWS:pw").toString("base64") }],
    });
    await new EcrAuthProvider({ target: { ...TARGET, region: "ap-south-1" } }).credentials();
    const client = ecr.stub.call(0).thisValue as ECRClient;
    expect(await client.config.region()).to.equal("ap-south-1");
  });

  it("asks for the caller's own registry when no account is known", async () => {
    ecr.stub.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from("AWS:pw").toString("base64") }],
    });
    const credentials = await new EcrAuthProvider({
      target: { ...TARGET, accountId: undefined },
    }).credentials();
    expect(ecr.stub.commandCalls(GetAuthorizationTokenCommand)[0]!.args[0].input).to.deep.equal({});
    expect(credentials.serveraddress).to.equal(`https://${HOST}`);
  });

  it("missing credentials (CredentialsProviderError) ⇒ ConfigError naming region, registry and how to provide them", async () => {
    ecr.stub.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      }),
    );
    const error = await rejection(new EcrAuthProvider({ target: TARGET }).credentials());
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message)
      .to.include(HOST)
      .and.include("region eu-west-1")
      .and.include("AWS_ACCESS_KEY_ID")
      .and.include("AWS_PROFILE")
      .and.include("role");
    expect(error.cause).to.have.property("name", "CredentialsProviderError");
  });

  it("rejected credentials (UnrecognizedClientException) ⇒ the same ConfigError", async () => {
    ecr.stub.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error("The security token included in the request is invalid."), {
        name: "UnrecognizedClientException",
      }),
    );
    const error = await rejection(new EcrAuthProvider({ target: TARGET }).credentials());
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message)
      .to.include("UnrecognizedClientException")
      .and.include("AWS_ACCESS_KEY_ID");
  });

  it("other AWS failures ⇒ StageError naming the registry", async () => {
    ecr.stub
      .on(GetAuthorizationTokenCommand)
      .rejects(
        Object.assign(new Error("We encountered an internal error"), { name: "ServerException" }),
      );
    const error = await rejection(new EcrAuthProvider({ target: TARGET }).credentials());
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(HOST).and.include("ServerException");
  });

  it("a malformed token is refused without echoing it", async () => {
    const token = Buffer.from("no-colon-in-this-secret-token").toString("base64");
    ecr.stub.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: token }],
    });
    const error = await rejection(new EcrAuthProvider({ target: TARGET }).credentials());
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include(HOST).and.not.include(token).and.not.include("secret");
  });
});

describe("EcrAuthProvider with a real client and no credentials", () => {
  it("fails in the credential chain, before any request, with the ConfigError", async () => {
    // A real client whose credential provider fails, as the default chain does on a
    // machine without credentials, but without the chain's network probes.
    const client = new ECRClient({
      region: "eu-west-1",
      credentials: () =>
        Promise.reject(
          Object.assign(new Error("Could not load credentials from any providers"), {
            name: "CredentialsProviderError",
          }),
        ),
    });
    const error = await rejection(new EcrAuthProvider({ target: TARGET, client }).credentials());
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include("no valid AWS credentials").and.include(HOST);
  });
});

describe("resolveEcrTarget", () => {
  const ecrRepo = parseRepository(`${HOST}/visit-counter`);
  const otherRepo = parseRepository("registry.example.com/visit-counter");
  const cases: [string, Parameters<typeof resolveEcrTarget>, Partial<EcrTarget>][] = [
    ["host only", [{}, ecrRepo, {}], { region: "eu-west-1", accountId: "123456789012" }],
    [
      "host wins over AWS_REGION (a token only works in its own region)",
      [{}, ecrRepo, { AWS_REGION: "us-east-1" }],
      { region: "eu-west-1" },
    ],
    ["config agrees with host", [{ region: "eu-west-1" }, ecrRepo, {}], { region: "eu-west-1" }],
    [
      "non-ECR host: config",
      [
        { region: "eu-central-1", accountId: "210987654321" },
        otherRepo,
        { AWS_REGION: "us-east-1" },
      ],
      { region: "eu-central-1", accountId: "210987654321" },
    ],
    [
      "non-ECR host: AWS_REGION",
      [{}, otherRepo, { AWS_REGION: "us-east-1" }],
      { region: "us-east-1", accountId: undefined },
    ],
    [
      "non-ECR host: AWS_DEFAULT_REGION",
      [{}, otherRepo, { AWS_DEFAULT_REGION: "us-west-2" }],
      { region: "us-west-2" },
    ],
  ];
  for (const [name, args, expected] of cases) {
    it(name, () => {
      expect(resolveEcrTarget(...args)).to.include({
        repositoryName: "visit-counter",
        ...expected,
      });
    });
  }

  const bad: [string, Parameters<typeof resolveEcrTarget>, RegExp][] = [
    [
      "no region anywhere",
      [{}, otherRepo, {}],
      /cannot tell the AWS region of registry registry.example.com/,
    ],
    [
      "config region contradicts the host",
      [{ region: "us-east-1" }, ecrRepo, {}],
      /region is us-east-1, but .* is in eu-west-1/,
    ],
    [
      "config account contradicts the host",
      [{ accountId: "210987654321" }, ecrRepo, {}],
      /accountId is 210987654321, but .* belongs to account 123456789012/,
    ],
  ];
  for (const [name, args, message] of bad) {
    it(`${name} ⇒ ConfigError`, () => {
      expect(() => resolveEcrTarget(...args))
        .to.throw(ConfigError)
        .with.property("message")
        .that.matches(message);
    });
  }
});
