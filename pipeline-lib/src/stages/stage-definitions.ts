/**
 * The pipelines as data: the one definition that `pipeline run` runs, that the
 * Jenkinsfiles must agree with (a test holds them to it: titles, commands,
 * `when`, credentials, approval and reports), and that the diagram in Diagrams/
 * is generated from.
 */
export type PipelineName = "dev" | "prod";

/**
 * One condition of a stage's `when` block; a stage runs when all of them hold
 * (Jenkins' implicit `allOf`).
 *
 * - `{ branch: "develop" }`: `branch 'develop'` (a pull request's branch is `PR-<n>`)
 * - `{ changeRequest: true }`: `changeRequest()`; `false`: `not { changeRequest() }`
 * - `{ expression: "params.REQUIRE_APPROVAL" }`: `expression { params.REQUIRE_APPROVAL }`
 */
export type StageCondition =
  { branch: string } | { changeRequest: boolean } | { expression: string };

/** A Jenkins credential bound for the stage's command (`withCredentials`), by id. */
export type CredentialBinding =
  | { type: "usernamePassword"; id: string; usernameVariable: string; passwordVariable: string }
  | { type: "string"; id: string; variable: string }
  | { type: "file"; id: string; variable: string };

export interface StageDefinition {
  /** Stable id, used by `pipeline run --from/--to` and in reports. */
  id: string;
  /** The stage name Jenkins shows. */
  title: string;
  /** The one shell command the Jenkinsfile runs for this stage. */
  command: string;
  /** When Jenkins runs the stage (all must hold); always when absent. `pipeline run` ignores it. */
  when?: readonly StageCondition[];
  /** Credentials bound around the command, in this order. */
  credentials?: readonly CredentialBinding[];
  /** An approval (`input`) after the command; `pipeline run` does not stop for it. */
  input?: { message: string; ok: string };
  /** JUnit XML the stage writes, for Jenkins' `junit` step (`post { always }`). */
  junit?: string;
  /** Checkstyle XML the stage writes, for Warnings NG's `recordIssues` (`post { always }`). */
  checkstyle?: string;
}

/** What each pipeline archives when it ends, whatever the result (`archiveArtifacts`). */
export const archivedArtifacts: Record<PipelineName, readonly string[]> = {
  dev: ["build.json"],
  prod: ["build.json"],
};

const registry: CredentialBinding = {
  type: "usernamePassword",
  id: "registry",
  usernameVariable: "REGISTRY_USERNAME",
  passwordVariable: "REGISTRY_PASSWORD",
};
const kubeconfig = (env: "test" | "production"): CredentialBinding => ({
  type: "file",
  id: `kubeconfig-${env}`,
  variable: "KUBECONFIG",
});
// The ECDSA P-256 private key that signs evidence. Bound only in stages that
// run on develop and master: a pull request's code is untrusted.
const signingKey: CredentialBinding = {
  type: "file",
  id: "pipeline-signing-key",
  variable: "PIPELINE_SIGNING_KEY",
};

const install: StageDefinition = {
  id: "install",
  title: "Install",
  command: "npm ci --no-audit --no-fund && npm run build",
};
// One gate over the code, the Dockerfile, the manifests, the Jenkinsfiles and the
// scripts (`pipeline lint`, tsc and ESLint included), then the formatting. Groovy
// for the Jenkinsfiles comes from the project's script; Jenkins publishes the
// checkstyle report with Warnings NG.
const lint: StageDefinition = {
  id: "lint",
  title: "Lint",
  command:
    "bash infra/groovy/ensure-groovy.sh && " +
    "npx --no-install pipeline lint --warnings-as-errors --format checkstyle --output reports/lint.xml && " +
    "npx --no-install prettier --check .",
  checkstyle: "reports/lint.xml",
};
const unitTests: StageDefinition = {
  id: "unit-tests",
  title: "Unit tests",
  command: "JUNIT_FILE=reports/unit-tests.xml npm run test:fast",
  junit: "reports/unit-tests.xml",
};
const integrationTests: StageDefinition = {
  id: "integration-tests",
  title: "Integration tests",
  command: "npx --no-install pipeline test --junit reports/contract-tests.xml",
  junit: "reports/contract-tests.xml",
};

const onDevelop: readonly StageCondition[] = [{ branch: "develop" }];
const onMaster: readonly StageCondition[] = [{ branch: "master" }];

export const stageDefinitions: Record<PipelineName, readonly StageDefinition[]> = {
  // Every branch and pull request builds, tests and pushes its image; only
  // develop deploys it to the test namespace and verifies it there.
  dev: [
    install,
    lint,
    unitTests,
    { id: "build", title: "Build image", command: "npx --no-install pipeline build" },
    integrationTests,
    {
      id: "push",
      title: "Push",
      command: "npx --no-install pipeline push",
      credentials: [registry],
    },
    // Provenance, SBOM and the test results, signed and stored beside the image.
    {
      id: "attest",
      title: "Sign evidence",
      command: "npx --no-install pipeline attest",
      when: onDevelop,
      credentials: [registry, signingKey],
    },
    {
      id: "deploy-test",
      title: "Deploy to test",
      command: "npx --no-install pipeline deploy --env test",
      when: onDevelop,
      // The test cluster pulls with an imagePullSecret made from the registry credentials.
      credentials: [registry, kubeconfig("test")],
    },
    // A pass is signed as a verification summary: what production's gate asks for.
    {
      id: "verify-test",
      title: "Verify test",
      command: "npx --no-install pipeline verify --env test",
      when: onDevelop,
      credentials: [kubeconfig("test"), registry, signingKey],
      junit: "reports/verify.xml",
    },
  ],
  // The prod pipeline ships the image that develop verified for the same inputs
  // (`build --reuse` finds it, and reuses it only when its signed evidence holds
  // what production requires; `test`, `push`, `attest` and the test stages then
  // only confirm it). When there is none (a hotfix merged straight into master)
  // it builds the image here, so the whole dev gauntlet runs, through a deploy
  // and verification in test, before the approval. ECR credentials come from
  // the agent's IAM role (IRSA), not from Jenkins.
  prod: [
    { ...install, when: onMaster },
    { ...lint, when: onMaster },
    { ...unitTests, when: onMaster },
    {
      id: "resolve",
      title: "Resolve verified image",
      command: "npx --no-install pipeline build --reuse",
      when: onMaster,
    },
    { ...integrationTests, when: onMaster },
    { id: "push", title: "Push", command: "npx --no-install pipeline push", when: onMaster },
    {
      id: "attest",
      title: "Sign evidence",
      command: "npx --no-install pipeline attest",
      when: onMaster,
      credentials: [signingKey],
    },
    {
      id: "deploy-test",
      title: "Deploy to test",
      command: "npx --no-install pipeline deploy --env test --unless-reused",
      when: onMaster,
      credentials: [kubeconfig("test")],
    },
    {
      id: "verify-test",
      title: "Verify test",
      command:
        "npx --no-install pipeline verify --env test --unless-reused --junit reports/verify-test.xml",
      when: onMaster,
      credentials: [kubeconfig("test"), signingKey],
      junit: "reports/verify-test.xml",
    },
    // What production runs now, then a person says yes (REQUIRE_APPROVAL, on by default).
    {
      id: "approval",
      title: "Approval",
      command: "npx --no-install pipeline history --env production",
      when: [...onMaster, { expression: "params.REQUIRE_APPROVAL" }],
      credentials: [kubeconfig("production")],
      input: { message: "Deploy this image to production?", ok: "Deploy" },
    },
    {
      id: "promote",
      title: "Promote",
      command:
        'npx --no-install pipeline promote --digest "$(node -p \'require("./build.json").digest\')" --tag "release-$BUILD_NUMBER"',
      when: onMaster,
    },
    {
      id: "deploy-production",
      title: "Deploy to production",
      command: "npx --no-install pipeline deploy --env production",
      when: onMaster,
      credentials: [kubeconfig("production")],
    },
    {
      id: "verify-production",
      title: "Verify production",
      command: "npx --no-install pipeline verify --env production",
      when: onMaster,
      credentials: [kubeconfig("production"), signingKey],
      junit: "reports/verify.xml",
    },
  ],
};
