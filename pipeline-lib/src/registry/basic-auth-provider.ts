import { ConfigError } from "../errors.js";
import type { RegistryAuthProvider, RegistryCredentials } from "./registry-auth-provider.js";

export interface BasicAuthProviderOptions {
  /** The registry host the credentials are for, e.g. `127.0.0.1:5000`. */
  serveraddress: string;
  usernameEnv: string;
  passwordEnv: string;
  env: NodeJS.ProcessEnv;
}

/**
 * Username and password from environment variables, the way Jenkins'
 * `withCredentials([usernamePassword(...)])` binds them. Never from argv,
 * where they would show up in `ps` and in the build log.
 */
export class BasicAuthProvider implements RegistryAuthProvider {
  readonly description: string;

  constructor(private readonly options: BasicAuthProviderOptions) {
    this.description = `basic (${options.usernameEnv}/${options.passwordEnv})`;
  }

  credentials(): Promise<RegistryCredentials> {
    const { serveraddress, usernameEnv, passwordEnv, env } = this.options;
    const missing = [usernameEnv, passwordEnv].filter((name) => !env[name]);
    if (missing.length > 0) {
      return Promise.reject(
        new ConfigError(
          `registry ${serveraddress} uses basic auth, but ${missing.join(" and ")} ` +
            `${missing.length > 1 ? "are" : "is"} not set; export ${usernameEnv} and ${passwordEnv}, ` +
            `or in Jenkins bind them with withCredentials([usernamePassword(credentialsId: '…', ` +
            `usernameVariable: '${usernameEnv}', passwordVariable: '${passwordEnv}')])`,
        ),
      );
    }
    return Promise.resolve({
      username: env[usernameEnv]!,
      password: env[passwordEnv]!,
      serveraddress,
    });
  }
}
