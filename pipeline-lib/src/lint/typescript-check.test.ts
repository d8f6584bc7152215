import { expect } from "chai";
import { eslintFindings, tscFindings } from "./typescript-check.js";

describe("lint: reading tsc and ESLint output", () => {
  it("takes tsc's file(line,col) lines, joining continuation lines", () => {
    const output = [
      "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'.",
      "src/b.ts(10,1): error TS2741: Property 'lint' is missing in type '{}'",
      "  but required in type 'Handlers'.",
      "",
    ].join("\n");
    expect(tscFindings(output, 2, "/repo")).to.deep.equal([
      {
        file: "src/a.ts",
        line: 3,
        column: 7,
        rule: "typescript/TS2322",
        severity: "error",
        message: "Type 'string' is not assignable to type 'number'.",
      },
      {
        file: "src/b.ts",
        line: 10,
        column: 1,
        rule: "typescript/TS2741",
        severity: "error",
        message: "Property 'lint' is missing in type '{}' but required in type 'Handlers'.",
      },
    ]);
  });

  it("reports a failing tsc that printed no diagnostics", () => {
    const [finding] = tscFindings("error TS5058: The specified path does not exist", 1, "/repo");
    expect(finding).to.include({ rule: "typescript/tsc", severity: "error" });
  });

  it("takes ESLint's JSON, where a warning fails as an error would", () => {
    const json = JSON.stringify([
      { filePath: "/repo/src/a.ts", messages: [] },
      {
        filePath: "/repo/src/b.ts",
        messages: [
          { ruleId: "no-unused-vars", severity: 2, message: "'x' is unused.", line: 4, column: 9 },
          { ruleId: "prefer-const", severity: 1, message: "Use const.", line: 5, column: 1 },
        ],
      },
    ]);
    expect(
      eslintFindings(json, "", "/repo").map((f) => [f.file, f.line, f.rule, f.severity]),
    ).to.deep.equal([
      ["src/b.ts", 4, "eslint/no-unused-vars", "error"],
      ["src/b.ts", 5, "eslint/prefer-const", "error"],
    ]);
    const [broken] = eslintFindings("", "Oops! Something went wrong!", "/repo");
    expect(broken).to.include({
      rule: "eslint/config",
      message: "eslint failed: Oops! Something went wrong!",
    });
  });
});
