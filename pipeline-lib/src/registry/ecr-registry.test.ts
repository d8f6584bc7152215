import {
  BatchGetImageCommand,
  ImageAlreadyExistsException,
  ImageTagAlreadyExistsException,
  PutImageCommand,
  RepositoryNotFoundException,
} from "@aws-sdk/client-ecr";
import { expect } from "chai";
import { ECR_HOST as HOST, ECR_TARGET as TARGET, useEcrMock } from "../test-support/ecr-mock.js";
import { ConfigError, StageError } from "../errors.js";
import { EcrRegistry } from "./ecr-registry.js";
import { rejection } from "../test-support/rejection.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const OLD = `sha256:${"b".repeat(64)}`;
const MANIFEST =
  '{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.oci.image.manifest.v1+json"\n}';
const ids = { repositoryName: "visit-counter", registryId: "123456789012" };

describe("EcrRegistry", () => {
  const ecr = useEcrMock();

  const notFound = {
    images: [],
    failures: [{ imageId: { imageTag: "production" }, failureCode: "ImageNotFound" as const }],
  };
  const byDigest = {
    images: [
      {
        imageId: { imageDigest: DIGEST },
        imageManifest: MANIFEST,
        imageManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
      },
    ],
  };

  it("resolves a tag through BatchGetImage, and a missing one to undefined", async () => {
    ecr.stub
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "tree-abc" }] })
      .resolves({ images: [{ imageId: { imageTag: "tree-abc", imageDigest: DIGEST } }] })
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "nope" }] })
      .resolves({ images: [], failures: [{ failureCode: "ImageNotFound" }] });
    const registry = new EcrRegistry({ target: TARGET });
    expect(await registry.resolveTag("tree-abc")).to.equal(DIGEST);
    expect(await registry.resolveTag("nope")).to.equal(undefined);
    expect(ecr.stub.commandCalls(BatchGetImageCommand)[0]!.args[0].input).to.deep.include({
      ...ids,
      acceptedMediaTypes: [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
      ],
    });
  });

  it("tags with PutImage, passing the manifest string and media type unchanged", async () => {
    ecr.stub
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "production" }] })
      .resolves(notFound)
      .on(BatchGetImageCommand, { imageIds: [{ imageDigest: DIGEST }] })
      .resolves(byDigest)
      .on(PutImageCommand)
      .resolves({});
    const result = await new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production");
    expect(result).to.deep.equal({ change: "created" });
    expect(ecr.stub.commandCalls(PutImageCommand)[0]!.args[0].input).to.deep.equal({
      ...ids,
      imageManifest: MANIFEST,
      imageManifestMediaType: "application/vnd.oci.image.manifest.v1+json",
      imageTag: "production",
      imageDigest: DIGEST,
    });
  });

  it("is a no-op when the tag already points to the digest", async () => {
    ecr.stub.on(BatchGetImageCommand).resolves({ images: [{ imageId: { imageDigest: DIGEST } }] });
    const result = await new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production");
    expect(result).to.deep.equal({ change: "unchanged" });
    expect(ecr.stub.commandCalls(PutImageCommand)).to.have.length(0);
  });

  it("treats ImageAlreadyExistsException (tagged meanwhile) as unchanged", async () => {
    ecr.stub
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "production" }] })
      .resolves(notFound)
      .on(BatchGetImageCommand, { imageIds: [{ imageDigest: DIGEST }] })
      .resolves(byDigest)
      .on(PutImageCommand)
      .rejects(new ImageAlreadyExistsException({ message: "Image already exists", $metadata: {} }));
    const result = await new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production");
    expect(result).to.deep.equal({ change: "unchanged" });
  });

  it("moves a tag that points elsewhere and reports the previous digest", async () => {
    ecr.stub
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "production" }] })
      .resolves({ images: [{ imageId: { imageTag: "production", imageDigest: OLD } }] })
      .on(BatchGetImageCommand, { imageIds: [{ imageDigest: DIGEST }] })
      .resolves(byDigest)
      .on(PutImageCommand)
      .resolves({});
    const result = await new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production");
    expect(result).to.deep.equal({ change: "moved", previousDigest: OLD });
  });

  it("an immutable tag that points elsewhere ⇒ StageError saying so", async () => {
    ecr.stub
      .on(BatchGetImageCommand, { imageIds: [{ imageTag: "production" }] })
      .resolves({ images: [{ imageId: { imageDigest: OLD } }] })
      .on(BatchGetImageCommand, { imageIds: [{ imageDigest: DIGEST }] })
      .resolves(byDigest)
      .on(PutImageCommand)
      .rejects(new ImageTagAlreadyExistsException({ message: "tag exists", $metadata: {} }));
    const error = await rejection(
      new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production"),
    );
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.include("immutable tags").and.include(OLD);
  });

  it("other BatchGetImage failures ⇒ StageError with ECR's code and reason", async () => {
    ecr.stub.on(BatchGetImageCommand).resolves({
      images: [],
      failures: [{ failureCode: "KmsError", failureReason: "key disabled" }],
    });
    const error = await rejection(new EcrRegistry({ target: TARGET }).resolveTag("tree-abc"));
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.equal(
      `cannot look up tag tree-abc in ${HOST}/visit-counter: KmsError: key disabled`,
    );
  });

  it("a digest not in the repository ⇒ StageError naming it", async () => {
    ecr.stub
      .on(BatchGetImageCommand)
      .resolves({ images: [], failures: [{ failureCode: "ImageNotFound" }] });
    const error = await rejection(
      new EcrRegistry({ target: TARGET }).tagManifest(DIGEST, "production"),
    );
    expect(error).to.be.instanceOf(StageError);
    expect(error.message).to.equal(
      `manifest ${DIGEST} is not in ${HOST}/visit-counter; push it first`,
    );
  });

  it("a missing repository ⇒ ConfigError naming repository and registry", async () => {
    ecr.stub
      .on(BatchGetImageCommand)
      .rejects(new RepositoryNotFoundException({ message: "repo not found", $metadata: {} }));
    const error = await rejection(new EcrRegistry({ target: TARGET }).resolveTag("tree-abc"));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include("repository visit-counter does not exist").and.include(HOST);
  });

  it("missing AWS credentials ⇒ ConfigError with the how-to", async () => {
    ecr.stub.on(BatchGetImageCommand).rejects(
      Object.assign(new Error("Could not load credentials from any providers"), {
        name: "CredentialsProviderError",
      }),
    );
    const error = await rejection(new EcrRegistry({ target: TARGET }).resolveTag("tree-abc"));
    expect(error).to.be.instanceOf(ConfigError);
    expect(error.message).to.include("AWS_ACCESS_KEY_ID").and.include("region eu-west-1");
  });
});
