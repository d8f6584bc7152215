// Mocha's spec output, plus JUnit XML for Jenkins when JUNIT_FILE is set, plus
// one plain closing line ("tests: N passed, N failed, N skipped") that CI
// systems without a mocha parser can read. The JUnit file is written with
// junit-report-builder (mocha-junit-reporter does not run on mocha 12).
//
// With TEST_PROFILE=N (N > 0) it also prints where the time went: the N files
// that took longest (their tests and hooks added up) and the N slowest hooks.
// It reads only the durations mocha measures itself, so it works the same in
// --parallel mode, where events reach the reporter once a file is done.
const path = require("node:path");
const Mocha = require("mocha");
const junitModule = require("junit-report-builder");

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING, EVENT_HOOK_END } =
  Mocha.Runner.constants;
const junit = junitModule.default ?? junitModule;

/** Where the suite's time went, by file and by hook, from mocha's own durations. */
class Profile {
  files = new Map();
  hooks = new Map();

  add(runnable, kind) {
    const ms = runnable.duration ?? 0;
    const file = runnable.file ? path.relative(process.cwd(), runnable.file) : "(no file)";
    const entry = this.files.get(file) ?? { ms: 0, tests: 0, hooksMs: 0 };
    entry.ms += ms;
    if (kind === "hook") {
      entry.hooksMs += ms;
      // "before each" hooks add up over the tests they ran for.
      const hook = runnable.title.replace(/ (for|in) ".*"$/s, "");
      const suite = runnable.parent?.$$fullTitle ?? runnable.parent?.fullTitle?.() ?? "";
      const key = `${file}: ${suite} ${hook}`;
      const seen = this.hooks.get(key) ?? { ms: 0, runs: 0 };
      this.hooks.set(key, { ms: seen.ms + ms, runs: seen.runs + 1 });
    } else entry.tests += 1;
    this.files.set(file, entry);
  }

  print(top) {
    const s = (ms) => `${(ms / 1000).toFixed(1)}s`.padStart(7);
    const files = [...this.files].sort((a, b) => b[1].ms - a[1].ms);
    const total = files.reduce((sum, [, e]) => sum + e.ms, 0);
    console.log(`\nprofile: ${s(total).trim()} in tests and hooks, the ${top} slowest files:`);
    for (const [file, e] of files.slice(0, top))
      console.log(`  ${s(e.ms)}  ${file} (${e.tests} tests, hooks ${s(e.hooksMs).trim()})`);
    console.log(`profile: the ${top} slowest hooks:`);
    for (const [key, h] of [...this.hooks].sort((a, b) => b[1].ms - a[1].ms).slice(0, top))
      console.log(`  ${s(h.ms)}  ${key.slice(0, 150)}${h.runs > 1 ? ` (${h.runs} runs)` : ""}`);
  }
}

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
    const top = Number(process.env.TEST_PROFILE ?? 0);
    const profile = top > 0 ? new Profile() : undefined;
    if (profile) {
      runner.on(EVENT_HOOK_END, (hook) => profile.add(hook, "hook"));
      for (const event of [EVENT_TEST_PASS, EVENT_TEST_FAIL])
        runner.on(event, (test) => test.type !== "hook" && profile.add(test, "test"));
    }
    runner.on(EVENT_TEST_PASS, (test) => record(test, "passed"));
    runner.on(EVENT_TEST_FAIL, (test, error) => record(test, "failed", error));
    runner.on(EVENT_TEST_PENDING, (test) => record(test, "skipped"));
    runner.once(EVENT_RUN_END, () => {
      if (builder) builder.writeTo(junitFile);
      profile?.print(top);
      const { passes, failures, pending } = runner.stats ?? this.stats;
      console.log(`tests: ${passes} passed, ${failures} failed, ${pending} skipped`);
    });
  }
}

module.exports = CiReporter;
