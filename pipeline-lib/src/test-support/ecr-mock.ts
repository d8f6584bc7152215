import {
  ECRClient,
  type ECRClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from "@aws-sdk/client-ecr";
import { mockClient, type AwsStub } from "aws-sdk-client-mock";
import type { EcrTarget } from "../registry/ecr-target.js";

export const ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
export const ECR_TARGET: EcrTarget = {
  region: "eu-west-1",
  accountId: "123456789012",
  repositoryName: "visit-counter",
  registry: ECR_HOST,
};

export type EcrMock = AwsStub<ServiceInputTypes, ServiceOutputTypes, ECRClientResolvedConfig>;

/**
 * Installs aws-sdk-client-mock's ECRClient stub for the enclosing suite, reset
 * after each test and removed after the suite, so that other suites get real
 * clients. Call it inside `describe`.
 */
export function useEcrMock(): { readonly stub: EcrMock } {
  const holder = {} as { stub: EcrMock };
  before(() => (holder.stub = mockClient(ECRClient)));
  afterEach(() => holder.stub.reset());
  after(() => holder.stub.restore());
  return holder;
}
