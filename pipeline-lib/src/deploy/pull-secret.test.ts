import { expect } from "chai";
import path from "node:path";
import { parseConfig } from "../config/load-config.js";
import { ConfigError } from "../errors.js";
import { MemoryReporter } from "../output/reporter.js";
import {
  PULL_PASSWORD_ENV,
  PULL_USERNAME_ENV,
  pullSecretFor,
  resolvePullSecret,
} from "./pull-secret.js";

const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");
const DIGEST = `sha256:${"ab".repeat(32)}`;
const IMAGE = `registry.example.com/team/visit-counter@${DIGEST}`;
const ECR_REPOSITORY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter";

const configWith = (registry: string, repository = "registry.example.com/team/visit-counter") =>
  parseConfig(
    `
app: { name: visit-counter }
image: { repository: ${repository} }
registry: { auth: ${registry} }
`,
    { file: path.join(REPO_ROOT, "pipeline.config.yaml"), env: {} },
  );
const basic = configWith("{ provider: basic }");

const PUSH = { REGISTRY_USERNAME: "pusher", REGISTRY_PASSWORD: "push-secret" };
const PULL = { [PULL_USERNAME_ENV]: "puller", [PULL_PASSWORD_ENV]: "pull-secret" };

/** The credentials a Secret's .dockerconfigjson holds for `registry`. */
function held(dockerConfigJson: string, registry = "registry.example.com") {
  const { auths } = JSON.parse(dockerConfigJson) as {
    auths: Record<string, { username: string; password: string; auth: string }>;
  };
  expect(Object.keys(auths)).to.deep.equal([registry]);
  const entry = auths[registry]!;
  expect(Buffer.from(entry.auth, "base64").toString()).to.equal(
    `${entry.username}:${entry.password}`,
  );
  return { username: entry.username, password: entry.password };
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail("resolved"),
    (error: unknown) => error as Error,
  );

describe("pull secret", () => {
  it("holds the pull-only credential when REGISTRY_PULL_USERNAME/PASSWORD are set, and warns of nothing", async () => {
    const { secret, warning } = await resolvePullSecret(basic, IMAGE, { ...PUSH, ...PULL });
    expect(secret?.name).to.equal("visit-counter-registry");
    expect(secret?.registry).to.equal("registry.example.com");
    expect(held(secret!.dockerConfigJson)).to.deep.equal({
      username: "puller",
      password: "pull-secret",
    });
    expect(secret!.dockerConfigJson).not.to.include("push-secret");
    expect(warning).to.equal(undefined);
  });

  it("needs no push credential when the pull credential is there", async () => {
    const { secret } = await resolvePullSecret(basic, IMAGE, PULL);
    expect(held(secret!.dockerConfigJson).username).to.equal("puller");
  });

  it("falls back to the push credential, with a warning that says how to fix it", async () => {
    const { secret, warning } = await resolvePullSecret(basic, IMAGE, PUSH);
    expect(held(secret!.dockerConfigJson)).to.deep.equal({
      username: "pusher",
      password: "push-secret",
    });
    expect(warning).to.match(/pulls registry\.example\.com with the push credential/);
    expect(warning).to.include("REGISTRY_USERNAME/REGISTRY_PASSWORD");
    expect(warning).to.include("imagePullSecret visit-counter-registry");
    expect(warning).to.include(`${PULL_USERNAME_ENV} and ${PULL_PASSWORD_ENV}`);
    // The warning names variables, never their values.
    expect(warning).not.to.match(/pusher|push-secret/);
  });

  it("names the push variables the config names", async () => {
    const custom = configWith(
      "{ provider: basic, usernameEnv: ACME_USER, passwordEnv: ACME_PASS }",
    );
    const { secret, warning } = await resolvePullSecret(custom, IMAGE, {
      ACME_USER: "acme",
      ACME_PASS: "acme-secret",
    });
    expect(held(secret!.dockerConfigJson).username).to.equal("acme");
    expect(warning).to.include("ACME_USER/ACME_PASS");
  });

  it("tells the reporter once, and returns the Secret as before", async () => {
    const reporter = new MemoryReporter();
    const secret = await pullSecretFor(basic, IMAGE, PUSH, { reporter });
    expect(held(secret!.dockerConfigJson).username).to.equal("pusher");
    expect(reporter.lines.filter((l) => l.startsWith("warning: "))).to.have.lengthOf(1);

    const quiet = new MemoryReporter();
    await pullSecretFor(basic, IMAGE, { ...PUSH, ...PULL }, { reporter: quiet });
    expect(quiet.lines).to.deep.equal([]);
    // Without a reporter (a caller that does not pass one), it still works.
    expect(await pullSecretFor(basic, IMAGE, PUSH)).to.deep.equal(secret);
  });

  for (const [set, unset] of [
    [PULL_USERNAME_ENV, PULL_PASSWORD_ENV],
    [PULL_PASSWORD_ENV, PULL_USERNAME_ENV],
  ] as const) {
    it(`refuses ${set} without ${unset} (exit 2) rather than pulling with the push credential`, async () => {
      const error = await rejection(resolvePullSecret(basic, IMAGE, { ...PUSH, [set]: "x" }));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(`${set} is set but ${unset} is not`);
    });
  }

  it("without any credential, says which variables to set (exit 2)", async () => {
    const error = await rejection(resolvePullSecret(basic, IMAGE, {}));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include(`set ${PULL_USERNAME_ENV} and ${PULL_PASSWORD_ENV}`);
    expect(error.message).to.match(/REGISTRY_USERNAME and REGISTRY_PASSWORD are not set/);
  });

  it("makes none on ECR (nodes pull with their IAM role), even with credentials in the environment", async () => {
    const ecr = configWith("{ provider: ecr }", ECR_REPOSITORY);
    const image = `${ECR_REPOSITORY}@${DIGEST}`;
    expect(await resolvePullSecret(ecr, image, { ...PUSH, ...PULL })).to.deep.equal({});
    expect(await pullSecretFor(ecr, image, {})).to.equal(undefined);
  });

  it("makes none for an anonymous registry, or an image from another registry", async () => {
    const anonymous = configWith("{ provider: none }");
    expect(await resolvePullSecret(anonymous, IMAGE, { ...PUSH, ...PULL })).to.deep.equal({});
    const elsewhere = `other.example.com/visit-counter@${DIGEST}`;
    expect(await resolvePullSecret(basic, elsewhere, { ...PUSH, ...PULL })).to.deep.equal({});
  });
});
