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

export const stageDefinitions: Record<PipelineName, readonly StageDefinition[]> = {
  dev: [
    { id: "install", title: "Install", command: "npm ci --no-audit --no-fund && npm run build" },
    { id: "lint", title: "Lint", command: "npm run lint" },
    {
      id: "unit-tests",
      title: "Unit tests",
      command: "JUNIT_FILE=reports/unit-tests.xml npm run test:fast",
      junit: "reports/unit-tests.xml",
    },
    { id: "build", title: "Build image", command: "npx pipeline build" },
    {
      id: "integration-tests",
      title: "Integration tests",
      command: "npx pipeline test --junit reports/contract-tests.xml",
      junit: "reports/contract-tests.xml",
    },
    { id: "push", title: "Push", command: "npx pipeline push" },
  ],
  // The prod pipeline finds the image that develop verified for the same inputs
  // (`--reuse`); when there is none it builds and runs the dev gauntlet on it.
  prod: [
    { id: "install", title: "Install", command: "npm ci --no-audit --no-fund && npm run build" },
    { id: "resolve", title: "Resolve verified image", command: "npx pipeline build --reuse" },
    {
      id: "integration-tests",
      title: "Integration tests",
      command: "npx pipeline test --junit reports/contract-tests.xml",
      junit: "reports/contract-tests.xml",
    },
    { id: "push", title: "Push", command: "npx pipeline push" },
  ],
};
