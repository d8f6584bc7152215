import { expect } from "chai";
import {
  isLoopbackRegistry,
  isValidDigest,
  isValidTag,
  parseEcrHost,
  parseRepository,
} from "./image-reference.js";

describe("parseRepository", () => {
  const cases: [string, { registry: string; apiHost: string; path: string; ecr?: object }][] = [
    [
      "127.0.0.1:5000/visit-counter",
      { registry: "127.0.0.1:5000", apiHost: "127.0.0.1:5000", path: "visit-counter" },
    ],
    ["localhost/team/app", { registry: "localhost", apiHost: "localhost", path: "team/app" }],
    ["localhost:5000/app", { registry: "localhost:5000", apiHost: "localhost:5000", path: "app" }],
    ["[::1]:5000/app", { registry: "[::1]:5000", apiHost: "[::1]:5000", path: "app" }],
    [
      "registry.example.com/team/sub/app",
      { registry: "registry.example.com", apiHost: "registry.example.com", path: "team/sub/app" },
    ],
    ["redis", { registry: "docker.io", apiHost: "registry-1.docker.io", path: "library/redis" }],
    [
      "bitnami/redis",
      { registry: "docker.io", apiHost: "registry-1.docker.io", path: "bitnami/redis" },
    ],
    [
      "docker.io/library/node",
      { registry: "docker.io", apiHost: "registry-1.docker.io", path: "library/node" },
    ],
    [
      "docker.io/node",
      { registry: "docker.io", apiHost: "registry-1.docker.io", path: "library/node" },
    ],
    [
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter",
      {
        registry: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        apiHost: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        path: "visit-counter",
        ecr: { accountId: "123456789012", region: "eu-west-1" },
      },
    ],
  ];
  for (const [input, expected] of cases) {
    it(`splits ${input}`, () => {
      expect(parseRepository(input)).to.deep.equal({ repository: input, ...expected });
    });
  }

  const invalid: [string, RegExp][] = [
    ["127.0.0.1:5000/app:latest", /must not contain a tag/],
    ["127.0.0.1:5000/app@sha256:abc", /must not contain a digest/],
    ["127.0.0.1:5000/App", /"App" is not a lowercase path component/],
    ["registry.example.com//app", /"" is not a lowercase path component/],
    ["bad_host:5000/app", /"bad_host:5000" is not a registry host/],
  ];
  for (const [input, message] of invalid) {
    it(`rejects ${input}, naming it`, () => {
      expect(() => parseRepository(input))
        .to.throw(message)
        .with.property("message")
        .that.includes(`"${input}"`);
    });
  }
});

describe("parseEcrHost", () => {
  const cases: [string, { accountId: string; region: string } | undefined][] = [
    [
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      { accountId: "123456789012", region: "eu-west-1" },
    ],
    [
      "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
      { accountId: "123456789012", region: "us-gov-west-1" },
    ],
    [
      "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
      { accountId: "123456789012", region: "us-east-1" },
    ],
    [
      "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      { accountId: "123456789012", region: "cn-north-1" },
    ],
    ["12345.dkr.ecr.eu-west-1.amazonaws.com", undefined],
    ["public.ecr.aws", undefined],
    ["127.0.0.1:5000", undefined],
  ];
  for (const [host, expected] of cases) {
    it(`${host} ⇒ ${JSON.stringify(expected)}`, () => {
      expect(parseEcrHost(host)).to.deep.equal(expected);
    });
  }
});

describe("isLoopbackRegistry", () => {
  const cases: [string, boolean][] = [
    ["127.0.0.1:5000", true],
    ["127.1.2.3", true],
    ["localhost:5000", true],
    ["localhost", true],
    ["[::1]:5000", true],
    ["10.0.0.1:5000", false],
    ["registry.example.com", false],
    ["127.0.0.1.nip.io:5000", false],
    ["localhost.example.com", false],
  ];
  for (const [host, expected] of cases) {
    it(`${host} ⇒ ${expected}`, () => expect(isLoopbackRegistry(host)).to.equal(expected));
  }
});

describe("isValidTag / isValidDigest", () => {
  const tags: [string, boolean][] = [
    ["production", true],
    ["tree-0123456789abcdef0123456789abcdef01234567", true],
    ["develop-42", true],
    ["v1.2.3_rc", true],
    ["-leading-dash", false],
    [".hidden", false],
    ["has space", false],
    ["a/b", false],
    ["", false],
    ["x".repeat(128), true],
    ["x".repeat(129), false],
  ];
  for (const [tag, expected] of tags) {
    it(`tag ${JSON.stringify(tag.length > 20 ? `${tag.slice(0, 8)}…(${tag.length})` : tag)} ⇒ ${expected}`, () =>
      expect(isValidTag(tag)).to.equal(expected));
  }
  const digests: [string, boolean][] = [
    [`sha256:${"a".repeat(64)}`, true],
    [`sha256:${"A".repeat(64)}`, false],
    [`sha256:${"a".repeat(63)}`, false],
    [`sha512:${"a".repeat(64)}`, false],
    [`repo@sha256:${"a".repeat(64)}`, false],
  ];
  for (const [digest, expected] of digests) {
    it(`digest ${digest.slice(0, 14)}…(${digest.length}) ⇒ ${expected}`, () =>
      expect(isValidDigest(digest)).to.equal(expected));
  }
});
