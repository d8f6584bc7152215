import type { RegistryAuthProvider, RegistryCredentials } from "./registry-auth-provider.js";

/** For registries that accept anonymous pushes (or where the Engine is already logged in). */
export class NoAuthProvider implements RegistryAuthProvider {
  readonly description = "none";

  credentials(): Promise<RegistryCredentials | undefined> {
    return Promise.resolve(undefined);
  }
}
