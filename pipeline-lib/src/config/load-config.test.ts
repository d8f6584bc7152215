import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ConfigError } from "../errors.js";
import { loadConfig, parseConfig } from "./load-config.js";
import { rejection } from "../test-support/rejection.js";

const FILE = "/repo/pipeline.config.yaml";
const minimal = `app:
  name: visit-counter
image:
  repository: 127.0.0.1:5000/visit-counter
`;

function parse(text: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfig(text, { file: FILE, env });
}

function errorOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parse(text, env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("fills defaults and resolves paths against the config file", () => {
    const config = parse(minimal);
    expect(config.image.dockerfile).to.equal("Dockerfile");
    expect(config.image.contextDir).to.equal("/repo");
    expect(config.image.dockerfilePath).to.equal("/repo/Dockerfile");
    expect(config.registry.auth.provider).to.equal("none");
    expect(config.test.sidecars).to.deep.equal([]);
    expect(config.app.port).to.equal(3000);
    expect(config.app.contractPath).to.equal(undefined);
    expect(config.deploy.manifestsDir).to.equal("/repo/k8s");
    expect(config.deploy.deploymentName).to.equal(config.app.name);
    expect(config.environments).to.deep.equal({});
  });

  it("expands ${VAR} and ${VAR:-default} from the environment", () => {
    const text = minimal.replace("127.0.0.1:5000/visit-counter", "${REGISTRY:-127.0.0.1:5000}/app");
    expect(parse(text).image.repository).to.equal("127.0.0.1:5000/app");
    expect(parse(text, { REGISTRY: "registry.example.com" }).image.repository).to.equal(
      "registry.example.com/app",
    );
  });

  it("loads the repository's own pipeline.config.yaml", async () => {
    const config = await loadConfig({
      cwd: path.resolve(import.meta.dirname, "../../.."),
      env: {},
    });
    expect(config.app.name).to.equal("visit-counter");
    expect(config.image.dockerfilePath).to.match(/service\/Dockerfile$/);
    expect(config.environments.production?.namespace).to.equal("production");
    // Production goes through a canary unless PRODUCTION_STRATEGY says rolling; test rolls.
    expect(config.environments.production?.strategy.type).to.equal("canary");
    expect(config.environments.production?.strategy.steps.map((s) => s.weight)).to.deep.equal([
      25, 50,
    ]);
    expect(config.environments.test?.strategy.type).to.equal("rolling");
    const rolling = await loadConfig({
      cwd: path.resolve(import.meta.dirname, "../../.."),
      env: { PRODUCTION_STRATEGY: "rolling" },
    });
    expect(rolling.environments.production?.strategy.type).to.equal("rolling");
  });

  it("an environment without strategy rolls, and keeps the canary defaults for --strategy canary", () => {
    const config = parse(`${minimal}environments:\n  test:\n    namespace: test\n`);
    const strategy = config.environments.test!.strategy;
    expect(strategy.type).to.equal("rolling");
    expect(strategy.steps).to.deep.equal([
      { weight: 25, seconds: 120 },
      { weight: 50, seconds: 120 },
    ]);
    expect(strategy.analysis).to.include({
      minRequests: 50,
      maxErrorRateIncrease: 0.01,
      maxP99IncreaseMs: 100,
    });
    expect(strategy.load).to.equal(undefined);
  });

  const bad: { name: string; text: string; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
    {
      name: "a missing required field names the field and its line",
      text: "app:\n  name: visit-counter\n",
      message: /pipeline\.config\.yaml:1: image: /,
    },
    {
      name: "a repository with a tag",
      text: minimal.replace("5000/visit-counter", "5000/visit-counter:latest"),
      message: /:4: image\.repository: must be a lowercase image repository/,
    },
    {
      name: "an unknown field (a typo) is named with its line",
      text: `${minimal}  dockerfil: service/Dockerfile\n`,
      message: /:5: image\.dockerfil: unknown field dockerfil/,
    },
    {
      name: "a wrong type",
      text: `${minimal}environments:\n  test:\n    namespace: test\n    replicas: two\n`,
      message: /:8: environments\.test\.replicas: .*number/i,
    },
    {
      name: "an unknown auth provider",
      text: `${minimal}registry:\n  auth:\n    provider: vault\n`,
      message: /:7: registry\.auth\.provider: /,
    },
    {
      name: "an unset variable without a default",
      text: minimal.replace("127.0.0.1:5000", "${REGISTRY}"),
      message: /:4: image\.repository uses \$\{REGISTRY\}, but REGISTRY is not set/,
    },
    {
      name: "invalid YAML",
      text: "app:\n  name: [unclosed\n",
      message: /pipeline\.config\.yaml:\d+: invalid YAML/,
    },
    {
      name: "canary steps whose weights do not rise",
      text: `${minimal}environments:\n  production:\n    namespace: prod\n    strategy:\n      type: canary\n      steps: [{ weight: 50 }, { weight: 25 }]\n`,
      message:
        /environments\.production\.strategy\.steps: the steps' weights must rise from one step to the next/,
    },
    {
      name: "a canary step of 100% (promotion is the step after the last)",
      text: `${minimal}environments:\n  production:\n    namespace: prod\n    strategy:\n      type: canary\n      steps: [{ weight: 100 }]\n`,
      message: /environments\.production\.strategy\.steps\.0\.weight: /,
    },
    {
      name: "a canary load without checks",
      text: `${minimal}environments:\n  production:\n    namespace: prod\n    strategy:\n      type: canary\n      load: { checks: [] }\n`,
      message: /environments\.production\.strategy\.load\.checks: /,
    },
    {
      name: "an unknown strategy",
      text: `${minimal}environments:\n  production:\n    namespace: prod\n    strategy: { type: blue-green }\n`,
      message: /environments\.production\.strategy\.type: /,
    },
    {
      name: "a namespace that Kubernetes would refuse",
      text: `${minimal}environments:\n  production:\n    namespace: Prod_NS\n`,
      message: /:7: environments\.production\.namespace: must be a Kubernetes namespace name/,
    },
  ];
  for (const { name, text, env, message } of bad) {
    it(`rejects ${name}`, () => {
      const error = errorOf(text, env);
      expect(error.message).to.match(message);
      expect(error.exitCode).to.equal(2);
      expect(error.message).to.include(FILE);
    });
  }

  it("names the file and says what to do when it does not exist", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "config-"));
    try {
      const error = await rejection(loadConfig({ cwd: dir }));
      expect(error).to.be.instanceOf(ConfigError);
      expect(error.message).to.include(path.join(dir, "pipeline.config.yaml"));
      expect(error.message).to.include("--config");
      await writeFile(path.join(dir, "custom.yaml"), minimal);
      const config = await loadConfig({ cwd: dir, file: "custom.yaml" });
      expect(config.root).to.equal(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
