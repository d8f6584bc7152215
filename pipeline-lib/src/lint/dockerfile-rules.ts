import {
  DockerfileParser,
  type Dockerfile,
  type ImageTemplate,
  type Instruction,
} from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import type { Finding, Severity } from "./finding.js";

/** The OCI annotations every image must carry (https://github.com/opencontainers/image-spec). */
export const REQUIRED_OCI_LABELS = [
  "org.opencontainers.image.source",
  "org.opencontainers.image.revision",
  "org.opencontainers.image.version",
] as const;

/** ENV and ARG names that look like they hold a secret: baked into the image's history. */
const SECRET_NAME = /(^|_)(TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIALS?|PRIVATE_KEY|ACCESS_KEY)$/i;
const NPM_INSTALL = /\bnpm\s+(install|i|add)\b/;
const REMOTE = /^(https?|ftp|git):\/\/|^git@/i;
const ROOT_USER = /^(root|0)(:.*)?$/;

/**
 * The Dockerfile rules: the syntax as VS Code's Docker tooling checks it
 * (dockerfile-utils), then the policy. Pure: text in, findings out.
 */
export function lintDockerfile(text: string, file: string): Finding[] {
  const findings: Finding[] = [];
  const add = (line: number, rule: string, message: string, severity: Severity = "error") =>
    findings.push({ file, line, rule: `dockerfile/${rule}`, severity, message });

  for (const diagnostic of validate(text)) {
    add(
      diagnostic.range.start.line + 1,
      "syntax",
      typeof diagnostic.message === "string" ? diagnostic.message : diagnostic.message.value,
      diagnostic.severity === 1 ? "error" : "warning",
    );
  }

  const dockerfile = DockerfileParser.parse(text);
  const stageNames = new Set(
    dockerfile.getFROMs().flatMap((from) => from.getBuildStage()?.toLowerCase() ?? []),
  );
  const lineOf = (instruction: Instruction) => instruction.getRange().start.line + 1;

  for (const from of dockerfile.getFROMs()) {
    const raw = from.getImage();
    if (!raw) continue;
    const image = resolveArgs(raw, dockerfile);
    if (image === undefined) {
      add(
        lineOf(from),
        "pinned-base-image",
        `cannot tell which base image ${raw} is: give its ARG a default (ARG NAME=image:tag)`,
        "warning",
      );
      continue;
    }
    if (stageNames.has(image.toLowerCase()) || image === "scratch") continue;
    const problem = unpinned(image);
    if (problem) {
      const shown = image === raw ? image : `${raw} (= ${image})`;
      add(lineOf(from), "pinned-base-image", `base image ${shown} ${problem}`);
    }
  }

  const lastFrom = dockerfile.getFROMs().at(-1);
  const final = lastFrom && dockerfile.getContainingImage(lastFrom.getRange().start);
  if (lastFrom && final) {
    checkFinalStage(stageChain(dockerfile, final), lineOf(lastFrom), add, lineOf);
  }

  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === "RUN") {
      const at = matchLine(text, instruction, NPM_INSTALL);
      if (at !== undefined) {
        add(at, "npm-ci", "use `npm ci` (exactly the lockfile), not `npm install`");
      }
    }
    if (keyword === "ADD") {
      const args = instruction
        .getArguments()
        .map((a) => a.getValue())
        .filter((a) => !a.startsWith("--"));
      for (const source of args.slice(0, -1)) {
        if (REMOTE.test(source)) {
          add(
            lineOf(instruction),
            "no-remote-add",
            `ADD ${source} fetches at build time without a checksum; download with a pinned checksum in RUN, or COPY`,
          );
        }
      }
    }
    if (keyword === "ENV" || keyword === "ARG") {
      for (const name of declaredNames(instruction)) {
        if (SECRET_NAME.test(name)) {
          add(
            lineOf(instruction),
            "no-secret-in-env",
            `${keyword} ${name} looks like a secret; it stays in the image's history — pass it at run time, or as a build secret`,
          );
        }
      }
    }
  }
  return findings;
}

/**
 * The final stage and the stages it is built FROM (`FROM builder`), nearest
 * first: USER and LABEL carry over from a stage to the one built on it.
 */
function stageChain(dockerfile: Dockerfile, final: ImageTemplate): Instruction[] {
  const byName = new Map(
    dockerfile.getFROMs().flatMap((from) => {
      const name = from.getBuildStage()?.toLowerCase();
      return name ? [[name, from] as const] : [];
    }),
  );
  const chain: Instruction[][] = [];
  let stage: ImageTemplate | null = final;
  while (stage && chain.length <= byName.size) {
    chain.push(stage.getInstructions());
    const parent = byName.get(stage.getFROMs()[0]?.getImage()?.toLowerCase() ?? "");
    stage = parent ? dockerfile.getContainingImage(parent.getRange().start) : null;
  }
  // Oldest first, so that the last USER is the one that applies.
  return chain.reverse().flat();
}

function checkFinalStage(
  instructions: Instruction[],
  fromLine: number,
  add: (line: number, rule: string, message: string) => void,
  lineOf: (instruction: Instruction) => number,
): void {
  const user = instructions.findLast((i) => i.getKeyword() === "USER");
  const name = user?.getArgumentsContent()?.trim() ?? "";
  if (!user) {
    add(fromLine, "non-root-user", "the final stage runs as root: add a numeric non-root USER");
  } else if (ROOT_USER.test(name)) {
    add(lineOf(user), "non-root-user", `the final stage runs as ${name}: use a non-root USER`);
  }

  const labels = new Set(
    instructions.filter((i) => i.getKeyword() === "LABEL").flatMap((i) => declaredNames(i)),
  );
  const missing = REQUIRED_OCI_LABELS.filter((label) => !labels.has(label));
  if (missing.length > 0) {
    add(fromLine, "oci-labels", `the final stage has no LABEL ${missing.join(", ")}`);
  }
}

/** Why an image reference is not pinned, or undefined when it is. */
function unpinned(image: string): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(image)) return undefined;
  const lastPart = image.slice(image.lastIndexOf("/") + 1);
  const colon = lastPart.indexOf(":");
  if (colon < 0) return "has no tag (that means latest): pin a tag or a digest";
  if (lastPart.slice(colon + 1) === "latest") return "is on latest: pin a tag or a digest";
  return undefined;
}

/** `${NAME}`, `${NAME:-x}` and `$NAME` from the ARGs before the first FROM; undefined when one has no value. */
function resolveArgs(value: string, dockerfile: Dockerfile): string | undefined {
  const defaults = new Map<string, string | null>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (property) defaults.set(property.getName(), property.getValue());
  }
  let unresolved = false;
  const resolved = value.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (
      _match,
      braced: string | undefined,
      fallback: string | undefined,
      bare: string | undefined,
    ) => {
      const found = defaults.get((braced ?? bare)!);
      if (found) return found;
      if (fallback !== undefined) return fallback;
      unresolved = true;
      return "";
    },
  );
  return unresolved ? undefined : resolved;
}

/** The names an ENV, ARG or LABEL instruction declares (`A=1 B=2`, `A 1`, `A`). */
function declaredNames(instruction: Instruction): string[] {
  const withProperties = instruction as Instruction & {
    getProperties?: () => { getName(): string }[];
    getProperty?: () => { getName(): string } | null;
  };
  if (withProperties.getProperties) return withProperties.getProperties().map((p) => p.getName());
  const one = withProperties.getProperty?.();
  return one ? [one.getName()] : [];
}

/** The line (1-based) of a multi-line instruction where `pattern` first matches. */
function matchLine(text: string, instruction: Instruction, pattern: RegExp): number | undefined {
  const { start, end } = instruction.getRange();
  const lines = text.split("\n");
  for (let line = start.line; line <= end.line; line++) {
    if (pattern.test(lines[line] ?? "")) return line + 1;
  }
  return undefined;
}
