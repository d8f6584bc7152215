// Mocha's spec output, plus JUnit XML for Jenkins when JUNIT_FILE is set, plus
// one plain closing line ("tests: N passed, N failed, N skipped") that CI
// systems without a mocha parser can read.
const Mocha = require("mocha");
const JUnit = require("mocha-junit-reporter");

const { EVENT_RUN_END } = Mocha.Runner.constants;

class CiReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const junitFile = process.env.JUNIT_FILE;
    if (junitFile) {
      new JUnit(runner, {
        reporterOptions: { mochaFile: junitFile, testsuitesTitle: "pipeline-lib" },
      });
    }
    runner.once(EVENT_RUN_END, () => {
      const { passes, failures, pending } = runner.stats ?? this.stats;
      console.log(`tests: ${passes} passed, ${failures} failed, ${pending} skipped`);
    });
  }
}

module.exports = CiReporter;
