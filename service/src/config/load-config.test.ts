import { expect } from "chai";
import { ConfigError } from "./config-error.js";
import { loadConfig } from "./load-config.js";

describe("loadConfig", () => {
  it("has defaults that run the embedded store on port 3000", () => {
    const config = loadConfig({});
    expect(config).to.deep.include({
      port: 3000,
      host: "0.0.0.0",
      redisUrl: undefined,
      redisKeyPrefix: "visit-counter:",
      logLevel: "info",
      shutdownTimeoutMs: 10_000,
      shutdownDelayMs: 0,
      readinessTimeoutMs: 500,
      trustProxy: false,
    });
    expect(config.build).to.deep.equal({
      version: "0.0.0-dev",
      commit: "unknown",
      buildTime: "unknown",
    });
  });

  const good: [string, Record<string, string>, Record<string, unknown>][] = [
    ["PORT", { PORT: "8080" }, { port: 8080 }],
    ["ephemeral PORT", { PORT: "0" }, { port: 0 }],
    ["PORT with spaces", { PORT: " 8080 " }, { port: 8080 }],
    ["empty PORT means default", { PORT: "" }, { port: 3000 }],
    ["HOST", { HOST: "127.0.0.1" }, { host: "127.0.0.1" }],
    ["REDIS_URL", { REDIS_URL: "redis://redis:6379" }, { redisUrl: "redis://redis:6379" }],
    [
      "REDIS_URL with password and db",
      { REDIS_URL: "rediss://:s3cret@cache.example:6380/2" },
      { redisUrl: "rediss://:s3cret@cache.example:6380/2" },
    ],
    ["empty REDIS_KEY_PREFIX", { REDIS_KEY_PREFIX: "" }, { redisKeyPrefix: "" }],
    ["REDIS_KEY_PREFIX", { REDIS_KEY_PREFIX: "test:vc:" }, { redisKeyPrefix: "test:vc:" }],
    ["LOG_LEVEL in capitals", { LOG_LEVEL: "DEBUG" }, { logLevel: "debug" }],
    ["SHUTDOWN_TIMEOUT_MS", { SHUTDOWN_TIMEOUT_MS: "25000" }, { shutdownTimeoutMs: 25_000 }],
    [
      "SHUTDOWN_DELAY_MS below the timeout",
      { SHUTDOWN_DELAY_MS: "5000", SHUTDOWN_TIMEOUT_MS: "20000" },
      { shutdownDelayMs: 5000 },
    ],
    ["READINESS_TIMEOUT_MS", { READINESS_TIMEOUT_MS: "250" }, { readinessTimeoutMs: 250 }],
    ["BODY_LIMIT_BYTES", { BODY_LIMIT_BYTES: "1024" }, { bodyLimitBytes: 1024 }],
    ["TRUST_PROXY", { TRUST_PROXY: "true" }, { trustProxy: true }],
    ["TRUST_PROXY=0", { TRUST_PROXY: "0" }, { trustProxy: false }],
  ];
  for (const [name, env, expected] of good) {
    it(`accepts ${name}`, () => {
      expect(loadConfig(env)).to.deep.include(expected);
    });
  }

  it("takes build information from APP_VERSION, GIT_COMMIT and BUILD_TIME", () => {
    const config = loadConfig({
      APP_VERSION: "1.2.3",
      GIT_COMMIT: "0123456789abcdef",
      BUILD_TIME: "2026-11-25T12:00:00Z",
    });
    expect(config.build).to.deep.equal({
      version: "1.2.3",
      commit: "0123456789abcdef",
      buildTime: "2026-11-25T12:00:00Z",
    });
  });

  const bad: [string, Record<string, string>, string, RegExp][] = [
    ["PORT=abc", { PORT: "abc" }, "PORT", /"abc" is not a whole number/],
    ["negative PORT", { PORT: "-1" }, "PORT", /not a whole number/],
    ["PORT above 65535", { PORT: "70000" }, "PORT", /out of range; set it to 0–65535/],
    ["fractional PORT", { PORT: "80.5" }, "PORT", /not a whole number/],
    ["REDIS_URL without scheme", { REDIS_URL: "localhost:6379" }, "REDIS_URL", /scheme/],
    ["REDIS_URL that is no URL", { REDIS_URL: "not a url" }, "REDIS_URL", /not a URL/],
    ["REDIS_URL with http", { REDIS_URL: "http://redis:6379" }, "REDIS_URL", /"http:"/],
    ["REDIS_URL with bad port", { REDIS_URL: "redis://redis:port" }, "REDIS_URL", /not a URL/],
    ["REDIS_URL with bad db", { REDIS_URL: "redis://redis:6379/x" }, "REDIS_URL", /database "x"/],
    ["REDIS_URL without host", { REDIS_URL: "redis://" }, "REDIS_URL", /no host/],
    ["REDIS_KEY_PREFIX with spaces", { REDIS_KEY_PREFIX: "a b" }, "REDIS_KEY_PREFIX", /may hold/],
    ["LOG_LEVEL=verbose", { LOG_LEVEL: "verbose" }, "LOG_LEVEL", /not one of fatal, error/],
    ["SHUTDOWN_TIMEOUT_MS=0", { SHUTDOWN_TIMEOUT_MS: "0" }, "SHUTDOWN_TIMEOUT_MS", /out of range/],
    ["SHUTDOWN_TIMEOUT_MS=10s", { SHUTDOWN_TIMEOUT_MS: "10s" }, "SHUTDOWN_TIMEOUT_MS", /whole/],
    [
      "SHUTDOWN_DELAY_MS not below the timeout",
      { SHUTDOWN_DELAY_MS: "10000" },
      "SHUTDOWN_DELAY_MS",
      /smaller than SHUTDOWN_TIMEOUT_MS \(10000\)/,
    ],
    ["READINESS_TIMEOUT_MS=5", { READINESS_TIMEOUT_MS: "5" }, "READINESS_TIMEOUT_MS", /range/],
    ["TRUST_PROXY=maybe", { TRUST_PROXY: "maybe" }, "TRUST_PROXY", /not a boolean/],
  ];
  for (const [name, env, variable, message] of bad) {
    it(`rejects ${name}, naming ${variable}`, () => {
      let caught: unknown;
      try {
        loadConfig(env);
      } catch (err) {
        caught = err;
      }
      expect(caught).to.be.instanceOf(ConfigError);
      const error = caught as ConfigError;
      expect(error.variable).to.equal(variable);
      expect(error.message).to.match(new RegExp(`^${variable}: `));
      expect(error.message).to.match(message);
    });
  }

  it("never echoes a REDIS_URL password in its message", () => {
    expect(() => loadConfig({ REDIS_URL: "redis://:hunter2@redis:6379/x" }))
      .to.throw(ConfigError)
      .with.property("message")
      .that.does.not.include("hunter2");
  });
});
