/**
 * The pipelines as data: the one definition that `pipeline stages` prints,
 * that the Jenkinsfiles must agree with (a test holds them to it), and that
 * the diagram in Diagrams/ is generated from.
 */
export type PipelineName = "dev" | "prod";

export interface StageDefinition {
  /** Stable id, used by `pipeline stages` and in reports. */
  id: string;
  /** The stage name Jenkins shows. */
  title: string;
  /** The one shell command the Jenkinsfile runs for this stage. */
  command: string;
  /** JUnit XML the stage writes, for Jenkins' `junit` step. */
  junit?: string;
}

const install: StageDefinition = {
  id: "install",
  title: "Install",
  command: "npm ci --no-audit --no-fund && npm run build",
};
const integrationTests: StageDefinition = {
  id: "integration-tests",
  title: "Integration tests",
  command: "npx pipeline test --junit reports/contract-tests.xml",
  junit: "reports/contract-tests.xml",
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
    "npx pipeline lint --warnings-as-errors --format checkstyle --output reports/lint.xml && " +
    "npx prettier --check .",
};
const unitTests: StageDefinition = {
  id: "unit-tests",
  title: "Unit tests",
  command: "JUNIT_FILE=reports/unit-tests.xml npm run test:fast",
  junit: "reports/unit-tests.xml",
};
const push: StageDefinition = { id: "push", title: "Push", command: "npx pipeline push" };

export const stageDefinitions: Record<PipelineName, readonly StageDefinition[]> = {
  dev: [
    install,
    lint,
    unitTests,
    { id: "build", title: "Build image", command: "npx pipeline build" },
    integrationTests,
    push,
  ],
  // The prod pipeline ships the image that develop verified for the same inputs
  // (`build --reuse` finds it; `test` and `push` then only confirm and tag it).
  // When there is none it builds the image here, so the whole dev gauntlet runs:
  // lint and unit tests first (cheap, and they guard master either way).
  prod: [
    install,
    lint,
    unitTests,
    { id: "resolve", title: "Resolve verified image", command: "npx pipeline build --reuse" },
    integrationTests,
    push,
  ],
};
