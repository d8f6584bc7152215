import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { expect } from "chai";
import { NODE_PATH as PATH, packPipelineLib } from "./second-app/packed-pipeline-lib.js";

const exec = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Declared for code that is being written now: the deploy commands (src/kube). */
const PLANNED: Record<string, string[]> = { "pipeline-lib": ["@kubernetes/client-node"] };

describe("package manifests", () => {
  for (const workspace of ["pipeline-lib", "service"]) {
    it(`${workspace}: its code imports exactly the dependencies it declares`, async () => {
      const manifest = await readJson(path.join(ROOT, workspace, "package.json"));
      const rootManifest = await readJson(path.join(ROOT, "package.json"));
      const runtime = new Set<string>();
      const testOnly = new Set<string>();
      for (const file of await sourceFiles(path.join(ROOT, workspace, "src"))) {
        const isTest = /\.test\.ts$|\/test-support\//.test(file);
        for (const name of importedPackages(await readFile(file, "utf8"))) {
          (isTest ? testOnly : runtime).add(name);
        }
      }
      // Build scripts (pipeline-lib/scripts: the CLI's bundle) need only the build's packages.
      const scripts = path.join(ROOT, workspace, "scripts");
      if (await stat(scripts).catch(() => undefined)) {
        for (const file of await sourceFiles(scripts, ".js")) {
          for (const name of importedPackages(await readFile(file, "utf8"))) testOnly.add(name);
        }
      }
      const dependencies = Object.keys(manifest.dependencies ?? {});
      const devDependencies = Object.keys(manifest.devDependencies ?? {});

      // What the shipped code imports must install with it.
      expect([...runtime].filter((name) => !dependencies.includes(name)).sort()).to.deep.equal([]);
      // What the tests import must be declared somewhere in the repository.
      const declared = [
        ...dependencies,
        ...devDependencies,
        ...Object.keys(rootManifest.devDependencies ?? {}),
      ];
      expect([...testOnly].filter((name) => !declared.includes(name)).sort()).to.deep.equal([]);
      // Nothing declared goes unused (type packages are used by the compiler).
      const used = new Set([...runtime, ...testOnly, ...(PLANNED[workspace] ?? [])]);
      expect(
        [...dependencies, ...devDependencies]
          .filter((name) => !name.startsWith("@types/") && !used.has(name))
          .sort(),
      ).to.deep.equal([]);
    });
  }
});

describe("package boundaries", () => {
  for (const workspace of ["pipeline-lib", "service"]) {
    it(`${workspace}: nothing in src/ imports from outside the package`, async () => {
      const home = path.join(ROOT, workspace);
      const outside: string[] = [];
      for (const file of await sourceFiles(path.join(home, "src"))) {
        for (const specifier of importSpecifiers(await readFile(file, "utf8"))) {
          if (!specifier.startsWith(".")) continue;
          const target = path.resolve(path.dirname(file), specifier);
          if (path.relative(home, target).startsWith("..")) {
            outside.push(`${path.relative(ROOT, file)} imports ${specifier}`);
          }
        }
      }
      expect(outside).to.deep.equal([]);
    });
  }
});

describe("pipeline-lib package, installed from its tarball @slow", function () {
  this.timeout(180_000);
  let dir: string;
  let app: string;
  let installed: string;
  let packed: string[];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "pipeline-lib-package-"));
    const pack = await packPipelineLib(dir);
    packed = pack.files;

    // A project of its own, far from this repository's node_modules.
    app = path.join(dir, "app");
    await mkdir(app);
    await writeFile(
      path.join(app, "package.json"),
      JSON.stringify({ name: "pipeline-lib-install-check", private: true }),
    );
    await run("npm", ["install", "--no-audit", "--no-fund", pack.tarball], {
      cwd: app,
    });
    installed = path.join(app, "node_modules", "pipeline-lib");
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("ships the CLI, its build, the Groovy syntax check, the Jenkins steps (vars/) and its licence, and no sources or tests", () => {
    expect(packed).to.include.members([
      "package.json",
      "LICENSE",
      "bin/pipeline.js",
      "dist/main.js",
      "dist/bundle/main.js",
      "groovy/check-syntax.groovy",
      "vars/pipelineStage.groovy",
      "vars/pipelineStage.txt",
      "vars/standardPipeline.groovy",
      "vars/standardPipeline.txt",
    ]);
    expect(
      packed.filter((f) => !/^(package\.json$|LICENSE$|bin\/|dist\/|groovy\/|vars\/)/.test(f)),
    ).to.deep.equal([]);
    expect(packed.filter((f) => /\.test\.|test-support|tsbuildinfo/.test(f))).to.deep.equal([]);
  });

  it("installs the Jenkins steps (vars/) as they are in the repository", async () => {
    for (const step of [
      "pipelineStage.groovy",
      "pipelineStage.txt",
      "standardPipeline.groovy",
      "standardPipeline.txt",
    ]) {
      expect(await readFile(path.join(installed, "vars", step), "utf8"), step).to.equal(
        await readFile(path.join(ROOT, "pipeline-lib", "vars", step), "utf8"),
      );
    }
  });

  it("`pipeline --help` runs from node_modules/.bin and lists the commands", async () => {
    const { stdout } = await run(path.join(app, "node_modules", ".bin", "pipeline"), ["--help"], {
      cwd: app,
    });
    for (const command of ["build", "test", "push", "promote", "run"]) {
      expect(stdout).to.match(new RegExp(`^  ${command} `, "m"));
    }
  });

  it("`pipeline test` loads testcontainers from the installed copy", async () => {
    const pipeline = path.join(app, "node_modules", ".bin", "pipeline");
    const help = await run(pipeline, ["test", "--help"], { cwd: app });
    expect(help.stdout).to.include("Usage: pipeline test");

    // Resolved beside the installed package, not from this repository.
    const resolved = await run(
      process.execPath,
      ["--input-type=module", "-e", 'console.log(import.meta.resolve("testcontainers"))'],
      { cwd: installed },
    );
    const where = `file://${path.join(app, "node_modules", "testcontainers")}/`;
    expect(resolved.stdout.trim().startsWith(where), resolved.stdout).to.be.true;

    // The command itself: it loads (testcontainers and all), then stops at the
    // unreachable engine with one line, not a module-not-found stack trace.
    const failed = await run(
      pipeline,
      ["--config", path.join(ROOT, "pipeline.config.yaml"), "test", "--image", "absent:never"],
      { cwd: app, env: { DOCKER_HOST: "unix:///nonexistent.sock" }, allowFailure: true },
    );
    expect(failed.stderr).to.not.match(/Cannot find (package|module)|ERR_MODULE_NOT_FOUND/);
    expect(failed.stderr).to.match(/^pipeline: /);
    expect(failed.code).to.be.oneOf([1, 2]);
  });

  it("the CLI runs from its bundle: with tsc's dist/main.js gone, a command still loads and runs", async () => {
    const main = path.join(installed, "dist", "main.js");
    await rename(main, `${main}.away`);
    try {
      const failed = await run(
        path.join(app, "node_modules", ".bin", "pipeline"),
        ["--config", path.join(app, "absent.yaml"), "deploy", "--env", "test"],
        { cwd: app, allowFailure: true },
      );
      expect(failed.stderr).to.not.match(
        /Cannot find (package|module)|ERR_MODULE_NOT_FOUND|not built/,
      );
      expect(failed.stderr).to.match(/^pipeline: cannot read config file .*absent\.yaml/m);
      expect(failed.code).to.equal(2);
    } finally {
      await rename(`${main}.away`, main);
    }
  });

  it("the bundle reaches ECR through the AWS SDK: `pipeline promote` signs BatchGetImage and PutImage with the environment's credentials", async () => {
    // AWS itself is out of reach here: a real HTTP receiver on 127.0.0.1
    // answers the ECR API (AWS_ENDPOINT_URL_ECR), as ECR would.
    const digest = `sha256:${"ab".repeat(32)}`;
    const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST });
    const calls: { target: string; authorization: string; body: Record<string, unknown> }[] = [];
    const server = createServer((request, response) => {
      let text = "";
      request.on("data", (chunk: Buffer) => (text += chunk.toString()));
      request.on("end", () => {
        const target = String(request.headers["x-amz-target"]).split(".").at(-1)!;
        const body = JSON.parse(text) as { imageIds?: { imageTag?: string }[] };
        calls.push({ target, authorization: String(request.headers.authorization), body });
        const ids = { registryId: "123456789012", repositoryName: "visit-counter" };
        const answer =
          target === "PutImage"
            ? { image: { ...ids, imageId: { imageDigest: digest, imageTag: "production" } } }
            : body.imageIds?.[0]?.imageTag
              ? {
                  images: [],
                  failures: [
                    {
                      imageId: body.imageIds[0],
                      failureCode: "ImageNotFound",
                      failureReason: "Requested image not found",
                    },
                  ],
                }
              : {
                  images: [
                    {
                      ...ids,
                      imageId: { imageDigest: digest },
                      imageManifest: manifest,
                      imageManifestMediaType: OCI_MANIFEST,
                    },
                  ],
                  failures: [],
                };
        response.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const main = path.join(installed, "dist", "main.js");
    await rename(main, `${main}.away`); // the bundle, not tsc's output, runs
    try {
      const { port } = server.address() as AddressInfo;
      const promoted = await run(
        path.join(app, "node_modules", ".bin", "pipeline"),
        [
          "--config",
          path.join(ROOT, "pipeline.config.yaml"),
          "promote",
          "--digest",
          digest,
          "--tag",
          "production",
        ],
        {
          cwd: app,
          env: {
            IMAGE_REPOSITORY: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter",
            REGISTRY_AUTH: "ecr",
            AWS_ENDPOINT_URL_ECR: `http://127.0.0.1:${port}`,
            AWS_ACCESS_KEY_ID: "AKIAPIPELINETEST0001",
            AWS_SECRET_ACCESS_KEY: "pipeline-test-secret",
            // Nothing but the environment's credentials, and never the instance metadata service.
            AWS_EC2_METADATA_DISABLED: "true",
            AWS_CONFIG_FILE: path.join(dir, "absent-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE: path.join(dir, "absent-aws-credentials"),
          },
        },
      );
      expect(promoted.stdout + promoted.stderr).to.include(
        `tagged 123456789012.dkr.ecr.eu-west-1.amazonaws.com/visit-counter@${digest} as production`,
      );
      expect(calls.map((call) => call.target)).to.deep.equal([
        "BatchGetImage", // the tag: not there yet
        "BatchGetImage", // the manifest by digest
        "PutImage",
      ]);
      for (const call of calls) {
        expect(call.authorization).to.match(
          /^AWS4-HMAC-SHA256 Credential=AKIAPIPELINETEST0001\/\d{8}\/eu-west-1\/ecr\/aws4_request, /,
        );
      }
      expect(calls[2]!.body).to.deep.include({
        registryId: "123456789012",
        repositoryName: "visit-counter",
        imageTag: "production",
        imageDigest: digest,
        imageManifest: manifest,
      });
    } finally {
      await rename(`${main}.away`, main);
      server.close();
    }
  });

  it("every package its build imports resolves from the installed copy", async () => {
    const names = new Set<string>();
    // tsc's output names every import as written; the bundle (dist/bundle/)
    // inlines most of them, and its own imports are those few plus the
    // optional ones its packages try at run time (undici's "kerberos").
    for (const file of await sourceFiles(path.join(installed, "dist"), ".js")) {
      if (file.includes(`${path.sep}dist${path.sep}bundle${path.sep}`)) continue;
      for (const name of importedPackages(await readFile(file, "utf8"))) names.add(name);
    }
    expect([...names]).to.include.members(["commander", "dockerode", "testcontainers"]);
    const script = `for (const name of ${JSON.stringify([...names])}) console.log(import.meta.resolve(name));`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: installed,
    });
    const inApp = `file://${path.join(app, "node_modules")}/`;
    expect(
      stdout
        .trim()
        .split("\n")
        .filter((url) => !url.startsWith(inApp)),
    ).to.deep.equal([]);
  });
});

async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; allowFailure?: boolean },
): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await exec(command, args, {
      cwd: options.cwd,
      env: { ...process.env, PATH, ...options.env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; code?: number };
    if (!options.allowFailure) {
      throw new Error(
        `${path.basename(command)} ${args.join(" ")} failed (${failure.code}):\n${failure.stderr}`,
        { cause: error },
      );
    }
    return { stdout: failure.stdout ?? "", stderr: failure.stderr ?? "", code: failure.code ?? -1 };
  }
}

async function readJson(file: string): Promise<PackageJson> {
  return JSON.parse(await readFile(file, "utf8")) as PackageJson;
}

/** Every `extension` file under `dir`, recursively. */
async function sourceFiles(dir: string, extension = ".ts"): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(extension) && !e.name.endsWith(".d.ts"))
    .map((e) => path.join(e.parentPath, e.name));
}

/** `import … from "x"` and `export … from "x"`, `import "x"`, `import("x")`. */
const IMPORT =
  /^\s*(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

/** Everything a module imports (static, dynamic and re-exports), as written. */
function importSpecifiers(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((match) => match[1] ?? match[2] ?? match[3] ?? "");
}

/** The packages a module imports, without node: built-ins and relative paths. */
function importedPackages(source: string): Set<string> {
  const names = new Set<string>();
  for (const specifier of importSpecifiers(source)) {
    if (/^(\.|node:)/.test(specifier)) continue;
    const parts = specifier.split("/");
    names.add(specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!);
  }
  return names;
}
