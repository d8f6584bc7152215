import { expect } from "chai";
import Docker from "dockerode";
import { pack } from "tar-stream";
import { baseImages } from "../test-support/base-images.js";
import { rejection } from "../test-support/rejection.js";
import { buildSbom, imageSbom, isPackageRoot, type ImageContents } from "./sbom.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const SUBJECT = { name: "127.0.0.1:5000/visit-counter", digest: DIGEST, version: "tree-0123" };
const OPTIONS = {
  timestamp: new Date("2025-01-02T03:04:05.000Z"),
  toolVersion: "0.1.0",
  serialNumber: "urn:uuid:00000000-0000-4000-8000-000000000000",
};

const pkg = (path: string, json: object | string) => ({
  path,
  packageJson: typeof json === "string" ? json : JSON.stringify(json),
});

const KOA_ROUTER = pkg("/app/node_modules/@koa/router/package.json", {
  name: "@koa/router",
  version: "13.1.0",
  license: "MIT",
});
const LEFT_PAD = pkg("/app/node_modules/left-pad/package.json", {
  name: "left-pad",
  version: "1.3.0",
  license: "WTFPL",
});
const LEFT_PAD_AGAIN = pkg("/app/node_modules/x/node_modules/left-pad/package.json", {
  name: "left-pad",
  version: "1.3.0",
  license: "WTFPL",
});
const DUAL = pkg("/app/node_modules/dual/package.json", {
  name: "dual",
  version: "2.0.0",
  license: "(MIT OR Apache-2.0)",
});
const UNLICENSED = pkg("/app/node_modules/private-thing/package.json", {
  name: "private-thing",
  version: "0.0.1",
  license: "SEE LICENSE IN LICENSE.txt",
});
const MALFORMED = pkg("/app/node_modules/broken/package.json", "{ this is not json");
const NOT_A_ROOT = pkg("/app/node_modules/left-pad/lib/package.json", { type: "module" });
const FIXTURE = pkg("/app/node_modules/koa/test/fixtures/package.json", {
  name: "fixture",
  version: "9.9.9",
});
const NAMELESS = pkg("/app/node_modules/nameless/package.json", { version: "1.0.0" });

const DPKG_STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u10
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Maintainer: Someone <someone@example.org>

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u1
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>

Package: broken-upgrade
Status: install ok half-installed
Architecture: amd64
Version: 3.0-1
`;

const OS_RELEASE = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;

const LIBC_PURL = "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64&distro=debian-12";
const TZDATA_PURL = "pkg:deb/debian/tzdata@2025b-0+deb12u1?arch=all&distro=debian-12";

type Json = Record<string, unknown>;
interface Component extends Json {
  purl: string;
  "bom-ref": string;
}
const componentsOf = (bom: Json) => bom.components as Component[];
const purlsOf = (bom: Json) => componentsOf(bom).map((c) => c.purl);
const byPurl = (bom: Json, purl: string) => componentsOf(bom).find((c) => c.purl === purl);
const contents = (
  npmPackages: ImageContents["npmPackages"],
  dpkgStatus?: string,
): ImageContents => ({
  npmPackages,
  dpkgStatus,
  osRelease: dpkgStatus ? OS_RELEASE : undefined,
});

describe("SBOM", () => {
  describe("buildSbom", () => {
    const cases: [string, ImageContents, string[]][] = [
      ["an empty image", contents([]), []],
      [
        "scoped and unscoped npm packages",
        contents([LEFT_PAD, KOA_ROUTER]),
        ["pkg:npm/%40koa/router@13.1.0", "pkg:npm/left-pad@1.3.0"],
      ],
      [
        "one package found at two paths",
        contents([LEFT_PAD, LEFT_PAD_AGAIN]),
        ["pkg:npm/left-pad@1.3.0"],
      ],
      [
        "malformed, nameless and non-root package.json files",
        contents([MALFORMED, NOT_A_ROOT, FIXTURE, NAMELESS, LEFT_PAD]),
        ["pkg:npm/left-pad@1.3.0"],
      ],
      [
        "a dpkg status with installed and removed packages",
        contents([], DPKG_STATUS),
        [LIBC_PURL, TZDATA_PURL],
      ],
      [
        "npm and Debian packages together",
        contents([KOA_ROUTER, LEFT_PAD], DPKG_STATUS),
        [LIBC_PURL, TZDATA_PURL, "pkg:npm/%40koa/router@13.1.0", "pkg:npm/left-pad@1.3.0"],
      ],
    ];
    for (const [title, input, purls] of cases) {
      it(`lists ${title} by purl`, () => {
        const bom = buildSbom(input, SUBJECT, OPTIONS);
        expect(bom).to.include({ bomFormat: "CycloneDX", specVersion: "1.6", version: 1 });
        expect(purlsOf(bom)).to.deep.equal(purls);
        const refs = componentsOf(bom).map((c) => c["bom-ref"]);
        expect(new Set(refs).size).to.equal(refs.length);
        expect(componentsOf(bom).every((c) => c.type === "library")).to.equal(true);
      });
    }

    it("describes the image, the time and the tool in metadata", () => {
      const bom = buildSbom(contents([]), SUBJECT, OPTIONS);
      expect(bom.serialNumber).to.equal(OPTIONS.serialNumber);
      const metadata = bom.metadata as Json;
      expect(metadata.timestamp).to.equal("2025-01-02T03:04:05.000Z");
      expect(metadata.component).to.deep.include({
        type: "container",
        name: "127.0.0.1:5000/visit-counter",
        version: "tree-0123",
        purl: `pkg:oci/visit-counter@sha256%3A${"ab".repeat(32)}?repository_url=127.0.0.1%3A5000%2Fvisit-counter`,
      });
      expect((metadata.tools as { components: Json[] }).components).to.deep.equal([
        { type: "application", name: "pipeline-lib", version: "0.1.0" },
      ]);
    });

    it("falls back to the digest as the image version and gives a fresh urn:uuid serial", () => {
      const bom = buildSbom(contents([]), { name: SUBJECT.name, digest: DIGEST });
      expect((bom.metadata as Json).component).to.include({ version: DIGEST });
      expect(bom.serialNumber).to.match(
        /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    });

    it("names npm packages with their scope as group, and records where each was found", () => {
      const bom = buildSbom(contents([LEFT_PAD_AGAIN, KOA_ROUTER, LEFT_PAD]), SUBJECT, OPTIONS);
      expect(byPurl(bom, "pkg:npm/%40koa/router@13.1.0")).to.include({
        group: "@koa",
        name: "router",
        version: "13.1.0",
        "bom-ref": "pkg:npm/%40koa/router@13.1.0",
      });
      expect(byPurl(bom, "pkg:npm/left-pad@1.3.0")?.properties).to.deep.equal([
        { name: "cdx:npm:package:path", value: LEFT_PAD.path },
        { name: "cdx:npm:package:path", value: LEFT_PAD_AGAIN.path },
      ]);
    });

    const licenses: [string, ImageContents["npmPackages"][number], string, unknown][] = [
      ["an SPDX id", KOA_ROUTER, "pkg:npm/%40koa/router@13.1.0", [{ license: { id: "MIT" } }]],
      ["an SPDX expression", DUAL, "pkg:npm/dual@2.0.0", [{ expression: "(MIT OR Apache-2.0)" }]],
      [
        "free text",
        UNLICENSED,
        "pkg:npm/private-thing@0.0.1",
        [{ license: { name: "SEE LICENSE IN LICENSE.txt" } }],
      ],
      [
        "no license",
        pkg("/app/node_modules/bare/package.json", { name: "bare", version: "1.0.0" }),
        "pkg:npm/bare@1.0.0",
        undefined,
      ],
    ];
    for (const [title, input, purl, expected] of licenses) {
      it(`takes the license of a package.json with ${title}`, () => {
        const bom = buildSbom(contents([input]), SUBJECT, OPTIONS);
        expect(byPurl(bom, purl)?.licenses).to.deep.equal(expected);
      });
    }

    it("names installed Debian packages by distro and architecture, with their maintainer as supplier", () => {
      const bom = buildSbom(contents([], DPKG_STATUS), SUBJECT, OPTIONS);
      expect(byPurl(bom, LIBC_PURL)).to.deep.include({
        type: "library",
        name: "libc6",
        version: "2.36-9+deb12u10",
        "bom-ref": LIBC_PURL,
        supplier: {
          name: "GNU Libc Maintainers",
          contact: [{ name: "GNU Libc Maintainers", email: "debian-glibc@lists.debian.org" }],
        },
      });
      expect(JSON.stringify(bom)).not.to.include("oldpkg").and.not.to.include("broken-upgrade");
    });

    it("uses the debian namespace without a distro when os-release is missing", () => {
      const bom = buildSbom(
        { npmPackages: [], dpkgStatus: DPKG_STATUS, osRelease: undefined },
        SUBJECT,
        OPTIONS,
      );
      expect(purlsOf(bom)).to.deep.equal([
        "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64",
        "pkg:deb/debian/tzdata@2025b-0+deb12u1?arch=all",
      ]);
    });

    it("gives the same document whatever order the files were found in", () => {
      const packages = [KOA_ROUTER, LEFT_PAD, LEFT_PAD_AGAIN, DUAL, MALFORMED, UNLICENSED];
      const forward = buildSbom(contents(packages, DPKG_STATUS), SUBJECT, OPTIONS);
      const backward = buildSbom(contents([...packages].reverse(), DPKG_STATUS), SUBJECT, OPTIONS);
      expect(backward).to.deep.equal(forward);
      expect(
        (forward.dependencies as { ref: string; dependsOn?: string[] }[]).find((d) =>
          d.ref.startsWith("pkg:oci/"),
        )?.dependsOn,
      ).to.have.length(6);
    });

    const roots: [string, boolean][] = [
      ["node_modules/left-pad/package.json", true],
      ["/app/node_modules/@koa/router/package.json", true],
      ["node_modules/a/node_modules/@s/b/package.json", true],
      ["node_modules/left-pad/lib/package.json", false],
      ["node_modules/@koa/package.json", false],
      ["node_modules/koa/test/fixtures/package.json", false],
      ["app/package.json", false],
    ];
    for (const [file, expected] of roots) {
      it(`${expected ? "takes" : "ignores"} ${file}`, () =>
        expect(isPackageRoot(file)).to.equal(expected));
    }
  });

  describe("imageSbom @slow", function () {
    this.timeout(300_000);
    const docker = new Docker();
    const image = `pipeline-test-sbom:${process.pid}`;

    before(async () => {
      const { node } = await baseImages();
      const container = await docker.createContainer({ Image: node, Cmd: ["true"] });
      try {
        await container.putArchive(
          await tarOf({
            "app/node_modules/left-pad/package.json": JSON.stringify({
              name: "left-pad",
              version: "1.3.0",
              license: "WTFPL",
            }),
          }),
          { path: "/" },
        );
        await container.commit({ repo: "pipeline-test-sbom", tag: String(process.pid) });
      } finally {
        await container.remove({ force: true });
      }
    });
    after(async () => {
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
    });

    it("finds the Debian packages and the npm packages of a built image", async () => {
      const id = (await docker.getImage(image).inspect()).Id;
      const bom = await imageSbom(docker, image, { name: "pipeline-test-sbom", digest: id });
      const purls = purlsOf(bom);
      expect(purls).to.include("pkg:npm/left-pad@1.3.0");
      expect(byPurl(bom, "pkg:npm/left-pad@1.3.0")?.licenses).to.deep.equal([
        { license: { id: "WTFPL" } },
      ]);
      expect(purls.filter((p) => p.startsWith("pkg:deb/debian/"))).to.not.be.empty;
      expect(purls.some((p) => /^pkg:deb\/debian\/libc6@.*distro=debian-\d+/.test(p))).to.equal(
        true,
      );
      expect(purls).to.deep.equal([...purls].sort());
      const left = await docker.listContainers({ all: true, filters: { ancestor: [image] } });
      expect(left, "containers left behind").to.be.empty;
    });

    it("names an image that the engine does not have", async () => {
      const error = await rejection(imageSbom(docker, "pipeline-no-such-image:404", SUBJECT));
      expect(error.message)
        .to.include("pipeline-no-such-image:404")
        .and.to.include("build it or pull it first");
    });
  });
});

/** A tar archive holding the given files. */
async function tarOf(files: Record<string, string>): Promise<Buffer> {
  const archive = pack();
  for (const [name, text] of Object.entries(files)) archive.entry({ name }, text);
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
