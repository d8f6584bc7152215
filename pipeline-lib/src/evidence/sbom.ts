import { randomUUID } from "node:crypto";
import path from "node:path";
import { pipeline } from "node:stream";
import { Contrib, Enums, Models, SPDX, Serialize, Spec } from "@cyclonedx/cyclonedx-library";
import type Docker from "dockerode";
import { PackageURL } from "packageurl-js";
import { extract, type Header } from "tar-stream";

/** The files of a built image that say which packages it contains. */
export interface ImageContents {
  /** package.json texts found under node_modules in the image (each file's JSON text) and where. */
  npmPackages: { path: string; packageJson: string }[];
  /** /var/lib/dpkg/status text, or undefined when the image has none (distroless). */
  dpkgStatus: string | undefined;
  /** /etc/os-release text, when present (names the distro in deb purls). */
  osRelease: string | undefined;
}

/** The image an SBOM describes: its repository (e.g. 127.0.0.1:5000/visit-counter) and manifest digest. */
export interface SbomSubject {
  name: string;
  digest: string;
  version?: string;
}

/** What the BOM says about its making; timestamp and serialNumber default to now and a random UUID. */
export interface SbomOptions {
  timestamp?: Date;
  toolName?: string;
  toolVersion?: string;
  serialNumber?: string;
}

const PACKAGE_ROOT = /(?:^|\/)node_modules\/(?:@[^/]+\/)?[^/@][^/]*\/package\.json$/;
const NODE_MODULES_DIRS = [
  "/app/node_modules",
  "/usr/src/app/node_modules",
  "/usr/local/lib/node_modules",
];

/** Whether a path is the package.json at the root of a package: node_modules/[@scope/]name/package.json. */
export function isPackageRoot(file: string): boolean {
  return PACKAGE_ROOT.test(file);
}

/**
 * The CycloneDX 1.6 SBOM of an image as a plain JSON object: the image as
 * metadata.component, one library component per npm package (deduplicated by
 * purl) and per installed Debian package, sorted by purl.
 */
export function buildSbom(
  contents: ImageContents,
  subject: SbomSubject,
  options: SbomOptions = {},
): Record<string, unknown> {
  const components = [
    ...npmComponents(contents.npmPackages),
    ...debComponents(contents.dpkgStatus, contents.osRelease),
  ].sort((a, b) => compare(a.purl, b.purl));
  const image = imageComponent(subject);
  image.dependencies = new Models.BomRefRepository(components.map((c) => c.bomRef));
  const { toolName = "pipeline-lib", toolVersion: version } = options;
  const tool = new Models.Component(Enums.ComponentType.Application, toolName, { version });
  const bom = new Models.Bom({
    serialNumber: options.serialNumber ?? `urn:uuid:${randomUUID()}`,
    metadata: new Models.Metadata({
      timestamp: options.timestamp ?? new Date(),
      tools: new Models.Tools({ components: new Models.ComponentRepository([tool]) }),
      component: image,
    }),
    components: new Models.ComponentRepository(components),
  });
  const normalizer = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6);
  const serializer = new Serialize.JsonSerializer(normalizer);
  // Components are already in purl order (by code point, not by locale as sortLists would).
  return JSON.parse(serializer.serialize(bom, { sortLists: false })) as Record<string, unknown>;
}

/** One component per distinct purl; each notes every path it was found at. */
function npmComponents(packages: ImageContents["npmPackages"]): Models.Component[] {
  const { FromNodePackageJson: Npm, License } = Contrib;
  const builder = new Npm.Builders.ComponentBuilder(
    new Npm.Factories.ExternalReferenceFactory(),
    new License.Factories.LicenseFactory(assertSpdxExpression),
  );
  const found = new Map<string, Models.Component>();
  for (const { path: file, packageJson } of [...packages].sort((a, b) => compare(a.path, b.path))) {
    const component = isPackageRoot(file) ? npmComponent(builder, packageJson) : undefined;
    if (!component?.purl) continue;
    if (!found.has(component.purl)) found.set(component.purl, component);
    found.get(component.purl)!.properties.add(new Models.Property("cdx:npm:package:path", file));
  }
  return [...found.values()];
}

type NpmBuilder = Contrib.FromNodePackageJson.Builders.ComponentBuilder;

function npmComponent(builder: NpmBuilder, text: string): Models.Component | undefined {
  try {
    const data = JSON.parse(text) as Contrib.FromNodePackageJson.Types.NodePackageJson;
    if (typeof data?.name !== "string" || typeof data.version !== "string") return undefined;
    const component = builder.makeComponent(data);
    if (!component) return undefined;
    const { group, name } = component;
    component.purl = new PackageURL("npm", group, name, data.version).toString();
    component.bomRef.value = component.purl;
    return component;
  } catch {
    return undefined; // not JSON, or a name no purl can carry
  }
}

/** Installed packages of a dpkg status file, named by the distro in os-release. */
function debComponents(status = "", osRelease = ""): Models.Component[] {
  const os = fieldsOf(osRelease, /^(\w+)=["']?(.*?)["']?\s*$/gm);
  const release = os.VERSION_ID ?? os.VERSION_CODENAME;
  const distro = os.ID && release ? `${os.ID}-${release}` : undefined;
  const found = new Map<string, Models.Component>();
  for (const stanza of status.split(/\n\s*\n/)) {
    // Continuation lines (descriptions, conffiles) do not match and are left out.
    const fields = fieldsOf(stanza, /^([\w-]+):[ \t]*(.*?)\s*$/gm);
    const { Package: name, Version: version, Architecture: arch, Status: state } = fields;
    // "install ok installed", not "deinstall ok config-files" nor "install ok half-installed".
    if (!name || !version || state?.split(/\s+/)[2] !== "installed") continue;
    const qualifiers: Record<string, string> = { ...(arch && { arch }), ...(distro && { distro }) };
    const purl = new PackageURL("deb", os.ID ?? "debian", name, version, qualifiers).toString();
    const supplier = supplierOf(fields.Maintainer);
    const options = { version, purl, bomRef: purl, supplier };
    found.set(purl, new Models.Component(Enums.ComponentType.Library, name, options));
  }
  return [...found.values()];
}

/** The supplier a dpkg Maintainer field names: `Name <email>`. */
function supplierOf(maintainer: string | undefined): Models.OrganizationalEntity | undefined {
  if (!maintainer) return undefined;
  const [, name = maintainer, email] = /^(.*?)\s*<([^>]*)>$/.exec(maintainer) ?? [];
  const contacts = email ? [new Models.OrganizationalContact({ name, email })] : [];
  const contact = new Models.OrganizationalContactRepository(contacts);
  return new Models.OrganizationalEntity({ name, contact });
}

/** The image as a container component, `pkg:oci/NAME@DIGEST?repository_url=REPOSITORY`. */
function imageComponent(subject: SbomSubject): Models.Component {
  const repository = subject.name.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
  const name = repository.slice(repository.lastIndexOf("/") + 1).toLowerCase();
  const qualifiers = { repository_url: repository };
  const purl = new PackageURL("oci", undefined, name, subject.digest, qualifiers)
    .toString()
    // packageurl-js leaves the digest's ':' literal; purl-spec's oci examples encode it.
    .replace(`@${subject.digest}`, `@${encodeURIComponent(subject.digest)}`);
  const version = subject.version ?? subject.digest;
  return new Models.Component(Enums.ComponentType.Container, subject.name, {
    version,
    purl,
    bomRef: purl,
  });
}

/** The KEY and VALUE that `line` captures on each line of `text` that it matches. */
function fieldsOf(text: string, line: RegExp): Record<string, string> {
  const pairs = [...text.matchAll(line)].map(([, key = "", value = ""]) => [key, value] as const);
  return Object.fromEntries(pairs);
}

/** Throws unless `expression` joins known SPDX ids with AND/OR/WITH (LicenseFactory asks this). */
function assertSpdxExpression(expression: string): void {
  const operands = expression
    .replace(/[()]/g, " ")
    .trim()
    .split(/\s+(?:AND|OR|WITH)\s+/);
  const parens = expression.replace(/[^()]/g, "");
  const known = (id: string) =>
    SPDX.isSupportedSpdxId(id.replace(/\+$/, "")) || /^(DocumentRef-\S+:)?LicenseRef-\S+$/.test(id);
  if (!operands.every(known) || parens.split("(").length !== parens.split(")").length) {
    throw new RangeError(`not an SPDX license expression: ${expression}`);
  }
}

/** Code-point order, the same on every machine (unlike localeCompare). */
function compare(a = "", b = ""): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Reads the package manifests of an image: creates a container from it (never
 * started), copies out the dpkg status, os-release and every package.json at a
 * package root under the usual node_modules directories, and removes it.
 */
export async function readImageContents(docker: Docker, image: string): Promise<ImageContents> {
  await docker
    .getImage(image)
    .inspect()
    .catch((error: unknown) => {
      if (statusCode(error) !== 404) throw error;
      const message = `image ${image} is not in the Docker Engine; build it or pull it first`;
      throw new Error(message, { cause: error });
    });
  const container = await docker.createContainer({ Image: image, Cmd: ["true"] });
  try {
    // The reads are independent: one engine request each, at once.
    const [trees, dpkgStatus, osRelease] = await Promise.all([
      Promise.all(NODE_MODULES_DIRS.map((dir) => archive(container, dir, isPackageRoot))),
      readText(container, "/var/lib/dpkg/status"),
      readText(container, "/etc/os-release").then(
        async (text) => text ?? (await readText(container, "/usr/lib/os-release")),
      ),
    ]);
    const npmPackages: ImageContents["npmPackages"] = [];
    NODE_MODULES_DIRS.forEach((dir, i) => {
      for (const { header, text } of trees[i] ?? []) {
        const file = path.posix.join(path.posix.dirname(dir), header.name);
        if (header.type === "file") npmPackages.push({ path: file, packageJson: text });
      }
    });
    return { npmPackages, dpkgStatus, osRelease };
  } finally {
    await container.remove({ force: true });
  }
}

/** {@link readImageContents} then {@link buildSbom}. */
export async function imageSbom(
  docker: Docker,
  image: string,
  subject: SbomSubject,
  options?: SbomOptions,
): Promise<Record<string, unknown>> {
  return buildSbom(await readImageContents(docker, image), subject, options);
}

/** A file's text, following symlinks; undefined when the path does not exist. */
async function readText(
  container: Docker.Container,
  file: string,
  hops = 0,
): Promise<string | undefined> {
  const [entry] = (await archive(container, file, () => true)) ?? [];
  if (entry?.header.type === "symlink" && hops < 8) {
    const target = path.posix.resolve(path.posix.dirname(file), entry.header.linkname);
    return readText(container, target, hops + 1);
  }
  return entry?.header.type === "file" ? entry.text : undefined;
}

/** The entries of the tar of `source` whose names `keep` accepts; undefined on a 404. */
async function archive(
  container: Docker.Container,
  source: string,
  keep: (name: string) => boolean,
): Promise<{ header: Header; text: string }[] | undefined> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await container.getArchive({ path: source });
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
  const tar = extract();
  pipeline(stream, tar as unknown as NodeJS.WritableStream, (error) => error && tar.destroy(error));
  const entries: { header: Header; text: string }[] = [];
  for await (const entry of tar) {
    if (!keep(entry.header.name)) {
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    entries.push({ header: entry.header, text: Buffer.concat(chunks).toString("utf8") });
  }
  return entries;
}

function statusCode(error: unknown): unknown {
  return (error as { statusCode?: unknown } | undefined)?.statusCode;
}
