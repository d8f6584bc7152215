// Mocha's spec output, plus JUnit XML for Jenkins when JUNIT_FILE is set, plus
// one plain closing line ("tests: N passed, N failed, N skipped") that CI
// systems without a mocha parser can read. The JUnit file is written with
// junit-report-builder (mocha-junit-reporter does not run on mocha 12).
const path = require("node:path");
const Mocha = require("mocha");
const junitModule = require("junit-report-builder");

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } =
  Mocha.Runner.constants;
const junit = junitModule.default ?? junitModule;

/** A test's suite names, outermost first, without the root. */
function suitePath(test) {
  const names = [];
  for (let s = test.parent; s && !s.root; s = s.parent) names.unshift(s.title);
  return names.join(" › ") || "(root)";
}

class CiReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const junitFile = process.env.JUNIT_FILE;
    const builder = junitFile ? junit.newBuilder() : undefined;
    const suites = new Map();
    const record = (test, outcome, error) => {
      if (!builder) return;
      const file = test.file ? path.relative(process.cwd(), test.file) : "";
      const suiteName = suitePath(test);
      let suite = suites.get(suiteName);
      if (!suite) {
        suite = builder.testSuite().name(suiteName);
        if (file) suite.property("file", file);
        suites.set(suiteName, suite);
      }
      const testCase = suite
        .testCase()
        .className(suiteName)
        .name(test.title)
        .time((test.duration ?? 0) / 1000);
      if (file) testCase.file(file);
      if (outcome === "failed") {
        testCase.failure(error?.message ?? "failed").stacktrace(error?.stack ?? "");
      } else if (outcome === "skipped") testCase.skipped();
    };
    runner.on(EVENT_TEST_PASS, (test) => record(test, "passed"));
    runner.on(EVENT_TEST_FAIL, (test, error) => record(test, "failed", error));
    runner.on(EVENT_TEST_PENDING, (test) => record(test, "skipped"));
    runner.once(EVENT_RUN_END, () => {
      if (builder) builder.writeTo(junitFile);
      const { passes, failures, pending } = runner.stats ?? this.stats;
      console.log(`tests: ${passes} passed, ${failures} failed, ${pending} skipped`);
    });
  }
}

module.exports = CiReporter;
