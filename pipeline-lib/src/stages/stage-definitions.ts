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
 * - `{ expression: "params.LOUD" }`: `expression { params.LOUD }` (no stage of ours has one: a
 *   parameter is anyone's with Build with Parameters, so none may switch a gate off)
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
  input?: Approval;
  /** JUnit XML the stage writes, for Jenkins' `junit` step (`post { always }`). */
  junit?: string;
  /** Checkstyle XML the stage writes, for Warnings NG's `recordIssues` (`post { always }`). */
  checkstyle?: string;
}

/**
 * A person's yes before the stages after it run (Jenkins' `input`). In
 * Jenkinsfile.prod it waits in a stage of its own that holds no agent, between
 * a milestone before and one after, under its own timeout (see `prodAgents`).
 */
export interface Approval {
  message: string;
  ok: string;
  /**
   * Who may answer (Jenkins' `submitter`): user ids or external group names,
   * comma-separated. Jenkins administrators always may. The library's
   * `pipelineStage` takes another with its `submitter` parameter.
   */
  submitter: string;
  /** How long it may wait; then the run is aborted (the approval stage's own `timeout`). */
  timeoutHours: number;
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
// Read-only registry credentials for the cluster's imagePullSecret: the push
// credentials never reach a namespace (deploy/pull-secret.ts).
const registryPull: CredentialBinding = {
  type: "usernamePassword",
  id: "registry-pull",
  usernameVariable: "REGISTRY_PULL_USERNAME",
  passwordVariable: "REGISTRY_PULL_PASSWORD",
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

// `npm ci`, unless node_modules holds what the last `npm ci` here installed from
// this lockfile with this Node.js and npm (infra/node/npm-ci.sh): a fresh
// workspace always installs. Another app's repository (the shared library's
// standardPipeline) has no such script and runs `npm ci`. The build (`tsc -b`)
// always runs; it is incremental.
const install: StageDefinition = {
  id: "install",
  title: "Install",
  command:
    "if [ -f infra/node/npm-ci.sh ]; then bash infra/node/npm-ci.sh --no-audit --no-fund; " +
    "else npm ci --no-audit --no-fund; fi && npm run build",
};
// One gate over the code, the Dockerfile, the manifests, the Jenkinsfiles and the
// scripts (`pipeline lint`, tsc and ESLint included), then the formatting. Groovy
// for the Jenkinsfiles comes from the project's script; Jenkins publishes the
// checkstyle report with Warnings NG. tsc, ESLint and Prettier use their own
// caches in node_modules/.cache, by content (`pipeline lint` says how).
const lint: StageDefinition = {
  id: "lint",
  title: "Lint",
  command:
    "bash infra/groovy/ensure-groovy.sh && " +
    "npx --no-install pipeline lint --warnings-as-errors --format checkstyle --output reports/lint.xml && " +
    "npx --no-install prettier --check --cache --cache-strategy content .",
  checkstyle: "reports/lint.xml",
};
// Skipped, with its report put back, when a passing run had exactly these
// inputs (every workspace file by content, the installed packages, Node.js, the
// command: `pipeline cached`); PIPELINE_NO_CACHE=1 runs it anyway.
const unitTests: StageDefinition = {
  id: "unit-tests",
  title: "Unit tests",
  command:
    "JUNIT_FILE=reports/unit-tests.xml npx --no-install pipeline cached unit-tests " +
    "--report reports/unit-tests.xml -- npm run test:fast",
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
      // The evidence gate reads the registry with `registry`; the test cluster
      // pulls with an imagePullSecret made from the read-only `registry-pull`.
      credentials: [registry, registryPull, kubeconfig("test")],
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
    // What production runs now, then a release manager says yes. Always: no
    // parameter switches it off (anyone with Build with Parameters could).
    {
      id: "approval",
      title: "Approval",
      command: "npx --no-install pipeline history --env production",
      when: onMaster,
      credentials: [kubeconfig("production")],
      input: {
        message: "Deploy this image to production?",
        ok: "Deploy",
        submitter: "release-managers",
        timeoutHours: 24,
      },
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

/**
 * How Jenkinsfile.prod takes agents, so that nothing holds an executor or a
 * workspace while the approval waits: `agent none` at the top; the stages
 * before the approval share one agent and workspace (the parent stage `build`),
 * which ends by running the approval's command as a stage of its own (what
 * production runs now, for the person who approves: the approval itself can run
 * no command) and stashing build.json; the approval waits in a stage with
 * `agent none`; the stages after it share another agent (`production`), whose
 * workspace starts from the checkout: a stage of its own runs Install's command
 * again and unstashes build.json, and one release at a time goes through it
 * (`lock`). Each part has its own timeout and the pipeline none, so that no
 * bound includes the approval's wait (`Approval.timeoutHours`). Jenkinsfile.dev
 * waits for nobody: one agent for all of it. `pipeline run` has one workspace
 * and ignores all of this.
 */
export const prodAgents = {
  build: {
    title: "Build and verify",
    timeoutMinutes: 90,
    /** The stage that runs the approval's command. */
    approvalCommandTitle: "Production history",
    stash: { name: "build", includes: "build.json" },
  },
  production: {
    title: "Production",
    timeoutMinutes: 60,
    /** The stage that installs again (Install's command) and unstashes build.json. */
    installTitle: "Install for production",
    lock: "visit-counter-production",
  },
} as const;

/** A stage as Jenkins runs it: which definition, which part of it, inside which parent stages. */
export interface JenkinsStagePlan {
  /** The stage name Jenkins shows. */
  title: string;
  /** The parent stages around it, outermost first: each holds an agent. */
  parents: readonly string[];
  /** The definition whose command, `when`, credentials and reports it runs. */
  definition: StageDefinition;
  /** `all`: the command, then its approval if any; `command`: the command only; `approval`: the wait only. */
  runs: "all" | "command" | "approval";
}

/** The leaf stages of a pipeline's Jenkinsfile, in order, from the definitions and `prodAgents`. */
export function jenkinsStages(name: PipelineName): JenkinsStagePlan[] {
  const stages = stageDefinitions[name];
  const at = stages.findIndex((s) => s.input);
  if (name === "dev" || at < 0) {
    return stages.map((definition) => ({
      title: definition.title,
      parents: [],
      definition,
      runs: "all",
    }));
  }
  const { build, production } = prodAgents;
  const approval = stages[at]!;
  const install = stages.find((s) => s.id === "install")!;
  return [
    ...stages.slice(0, at).map((definition) => ({
      title: definition.title,
      parents: [build.title],
      definition,
      runs: "all" as const,
    })),
    {
      title: build.approvalCommandTitle,
      parents: [build.title],
      definition: approval,
      runs: "command",
    },
    { title: approval.title, parents: [], definition: approval, runs: "approval" },
    {
      title: production.installTitle,
      parents: [production.title],
      definition: install,
      runs: "command",
    },
    ...stages.slice(at + 1).map((definition) => ({
      title: definition.title,
      parents: [production.title],
      definition,
      runs: "all" as const,
    })),
  ];
}
