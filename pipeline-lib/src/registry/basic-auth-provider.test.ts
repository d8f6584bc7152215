import { expect } from "chai";
import { ConfigError, ExitCode } from "../errors.js";
import { BasicAuthProvider } from "./basic-auth-provider.js";

describe("BasicAuthProvider", () => {
  const options = {
    serveraddress: "127.0.0.1:5000",
    usernameEnv: "REG_USER",
    passwordEnv: "REG_PASS",
  };

  it("reads username and password from the configured variables", async () => {
    const provider = new BasicAuthProvider({
      ...options,
      env: { REG_USER: "jenkins", REG_PASS: "s3cret-Value" },
    });
    expect(await provider.credentials()).to.deep.equal({
      username: "jenkins",
      password: "s3cret-Value",
      serveraddress: "127.0.0.1:5000",
    });
    expect(provider.description).to.equal("basic (REG_USER/REG_PASS)");
  });

  const missing: [string, NodeJS.ProcessEnv, RegExp][] = [
    ["the password", { REG_USER: "jenkins" }, /REG_PASS is not set/],
    ["the username", { REG_PASS: "x" }, /REG_USER is not set/],
    ["both", {}, /REG_USER and REG_PASS are not set/],
    ["a usable password (empty)", { REG_USER: "jenkins", REG_PASS: "" }, /REG_PASS is not set/],
  ];
  for (const [what, env, message] of missing) {
    it(`without ${what}: a ConfigError naming the variable, the registry and how to bind it`, async () => {
      const error = await new BasicAuthProvider({ ...options, env }).credentials().then(
        () => expect.fail("expected a ConfigError"),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).exitCode).to.equal(ExitCode.Usage);
      expect((error as Error).message)
        .to.match(message)
        .and.include("127.0.0.1:5000")
        .and.include("withCredentials([usernamePassword(");
    });
  }
});
