/**
 * Credentials in the shape of Docker's AuthConfig (what `docker login` stores
 * and what the Engine's X-Registry-Auth header carries), so they go to
 * dockerode unchanged and to the Registry v2 API as Basic credentials.
 */
export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
  /** The registry these are for: `127.0.0.1:5000`, `https://<account>.dkr.ecr.<region>.amazonaws.com`. */
  readonly serveraddress: string;
}

/** Where credentials for one registry come from (env variables, ECR, nowhere). */
export interface RegistryAuthProvider {
  /** What the provider is, for messages: `basic (REGISTRY_USERNAME/REGISTRY_PASSWORD)`. */
  readonly description: string;
  /** Undefined when the registry is used anonymously. */
  credentials(): Promise<RegistryCredentials | undefined>;
}
