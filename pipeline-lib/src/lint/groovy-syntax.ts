import { access } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { PACKAGE_ROOT } from "../package-root.js";
import type { Finding } from "./finding.js";
import { isNotInstalled, runTool } from "./run-tool.js";

/** The Groovy of Jenkins' pipeline engine. */
export const GROOVY_VERSION = "2.4.21";

/** Compiles Groovy files to the CONVERSION phase; it ships in the package's groovy/. */
const CHECKER = path.join(PACKAGE_ROOT, "groovy", "check-syntax.groovy");

export const HOW_TO_GET_GROOVY =
  "run `bash infra/groovy/ensure-groovy.sh` (Java 17 and Maven from apt, then " +
  `org.codehaus.groovy:groovy-all:${GROOVY_VERSION} from Maven Central), or set PIPELINE_GROOVY_JAR`;

/** What is missing to compile Groovy: thrown before anything ran. */
export class GroovyUnavailable extends Error {}

/** groovy-all 2.4.21: PIPELINE_GROOVY_JAR, the local Maven repository, then Debian's groovy package. */
export async function findGroovyJar(env: NodeJS.ProcessEnv): Promise<string> {
  const m2 = env.MAVEN_REPOSITORY ?? path.join(os.homedir(), ".m2", "repository");
  const candidates = env.PIPELINE_GROOVY_JAR
    ? [env.PIPELINE_GROOVY_JAR]
    : [
        path.join(
          m2,
          "org/codehaus/groovy/groovy-all",
          GROOVY_VERSION,
          `groovy-all-${GROOVY_VERSION}.jar`,
        ),
        "/usr/share/java/groovy-all.jar",
      ];
  for (const jar of candidates) {
    try {
      await access(jar);
      return jar;
    } catch {
      // try the next one
    }
  }
  throw new GroovyUnavailable(
    `groovy-all ${GROOVY_VERSION} is missing (looked at ${candidates.join(", ")}): ${HOW_TO_GET_GROOVY}`,
  );
}

/** Syntax errors, with their lines, as Groovy 2.4 reports them. `files` are relative to `cwd`. */
export async function checkGroovySyntax(
  files: readonly string[],
  { cwd, env, signal }: { cwd: string; env: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<Finding[]> {
  if (files.length === 0) return [];
  const jar = await findGroovyJar(env);
  const java = env.JAVA_HOME ? path.join(env.JAVA_HOME, "bin", "java") : "java";
  // C1 only and the serial collector: a one-shot parse starts in about half the time.
  const args = [
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-cp",
    jar,
    "groovy.ui.GroovyMain",
    CHECKER,
    ...files,
  ];
  let run;
  try {
    run = await runTool(java, args, { cwd, env, signal });
  } catch (error) {
    if (isNotInstalled(error)) {
      throw new GroovyUnavailable(`Java is missing (no ${java} on PATH): ${HOW_TO_GET_GROOVY}`);
    }
    throw error;
  }
  if (run.code !== 0 && run.code !== 1) {
    throw new Error(`the Groovy syntax check failed (exit ${run.code}): ${run.stderr.trim()}`);
  }
  return run.stdout
    .split("\n")
    .filter(Boolean)
    .map((row) => {
      const [file = "", line = "1", column = "1", message = ""] = row.split("\t");
      return {
        file,
        line: Number(line) || 1,
        column: Number(column) || undefined,
        rule: "jenkinsfile/groovy-syntax",
        severity: "error" as const,
        message: `Groovy ${GROOVY_VERSION}: ${message}`,
      };
    });
}
