// One mocha run covers both workspaces. Tests sit next to the code they test
// (`*.test.ts`); slow ones carry `@slow` in their title so that
// `npm run test:fast` can leave them out.
const ci = process.env.CI === "true";

// Mocha adds files named on the command line to the configured spec; naming
// files (`npm test -- service/src/app.test.ts`) should run just those.
const namesFiles = process.argv
  .slice(2)
  .some((arg) => !arg.startsWith("-") && /\.ts$|\*/.test(arg));

module.exports = {
  "node-option": ["import=tsx"],
  spec: namesFiles
    ? []
    : [
        "service/src/**/*.test.ts",
        "pipeline-lib/src/**/*.test.ts",
        "test/**/*.test.ts",
        "infra/**/*.test.ts",
        "Diagrams/**/*.test.ts",
      ],
  reporter: "./test/ci-reporter.cjs",
  timeout: 20_000,
  slow: 2_000,
  // A skipped test is not a passing one, and a stray `.only` would hide the rest.
  "forbid-only": ci,
  "forbid-pending": true,
  exit: false,
};
