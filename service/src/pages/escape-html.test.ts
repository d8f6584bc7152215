import { expect } from "chai";
import { escapeHtml } from "./escape-html.js";

describe("escapeHtml", () => {
  const cases: [string | number, string][] = [
    ["plain", "plain"],
    [42, "42"],
    ['<a href="x">', "&lt;a href=&quot;x&quot;&gt;"],
    ["Tom & Jerry's", "Tom &amp; Jerry&#39;s"],
    ["&amp;", "&amp;amp;"],
  ];
  for (const [input, expected] of cases) {
    it(`escapes ${JSON.stringify(input)}`, () => {
      expect(escapeHtml(input)).to.equal(expected);
    });
  }
});
