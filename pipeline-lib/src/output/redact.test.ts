import { expect } from "chai";
import { redactUrl, redactUrls } from "./redact.js";

describe("redactUrl", () => {
  const cases: [string, string, string][] = [
    [
      "user and password",
      "https://jenkins:s3cr3t@registry.example.com/v2/",
      "https://***@registry.example.com/v2/",
    ],
    [
      "a user alone (a token as the user)",
      "https://ghp_abc123@github.com/o/r.git",
      "https://***@github.com/o/r.git",
    ],
    [
      "an API server with credentials and a port",
      "https://admin:pw@10.0.0.1:6443",
      "https://***@10.0.0.1:6443",
    ],
    [
      "a token in the query",
      "https://counter.example.com/?token=abc&page=2",
      "https://counter.example.com/?token=***&page=2",
    ],
    [
      "signed URL parameters, a fragment kept",
      "https://b.s3.amazonaws.com/o?X-Amz-Credential=AKIA1&X-Amz-Signature=ff&x=1#top",
      "https://b.s3.amazonaws.com/o?X-Amz-Credential=***&X-Amz-Signature=***&x=1#top",
    ],
    [
      "access_token, api_key, password",
      "http://h/?access_token=a&api_key=b&password=c",
      "http://h/?access_token=***&api_key=***&password=***",
    ],
    ["both", "http://u:p@127.0.0.1:1/x?sig=1", "http://***@127.0.0.1:1/x?sig=***"],
    [
      "nothing secret: unchanged, not normalised",
      "https://127.0.0.1:6443",
      "https://127.0.0.1:6443",
    ],
    [
      "a path with @ after the host is not userinfo",
      "https://h.example.com/@scope/pkg",
      "https://h.example.com/@scope/pkg",
    ],
    ["not a URL", "127.0.0.1:5000/visit-counter", "127.0.0.1:5000/visit-counter"],
  ];
  for (const [what, url, expected] of cases) {
    it(`${what}: ${url}`, () => {
      expect(redactUrl(url)).to.equal(expected);
    });
  }
});

describe("redactUrls", () => {
  it("redacts every URL inside a message and leaves the words around them", () => {
    expect(
      redactUrls(
        "the Kubernetes API server https://me:pw@10.0.0.1:6443 (context x) answered; see http://h/?token=t.",
      ),
    ).to.equal(
      "the Kubernetes API server https://***@10.0.0.1:6443 (context x) answered; see http://h/?token=***.",
    );
  });
});
