import { expect } from "chai";
import { parseConfig } from "../config/load-config.js";
import { ConfigError } from "../errors.js";
import { podSecurityLabels } from "./pod-security.js";

const config = (level: string) => `app:
  name: visit-counter
image:
  repository: 127.0.0.1:5000/visit-counter
environments:
  test:
    namespace: test
${level ? `    podSecurity: ${level}\n` : ""}`;

describe("Pod Security labels", () => {
  it("enforce, warn and audit 'restricted' at the latest version unless the environment says otherwise", () => {
    const parsed = parseConfig(config(""), { file: "/repo/pipeline.config.yaml", env: {} });
    expect(parsed.environments.test?.podSecurity).to.equal(undefined);
    expect(podSecurityLabels(parsed.environments.test?.podSecurity)).to.deep.equal({
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "latest",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/audit-version": "latest",
    });
    const baseline = parseConfig(config("baseline"), {
      file: "/repo/pipeline.config.yaml",
      env: {},
    });
    expect(podSecurityLabels(baseline.environments.test?.podSecurity)).to.include({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/audit": "baseline",
    });
  });

  it("takes only the three Pod Security Standards", () => {
    expect(() =>
      parseConfig(config("strict"), { file: "/repo/pipeline.config.yaml", env: {} }),
    ).to.throw(ConfigError, /podSecurity/);
  });
});
