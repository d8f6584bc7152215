/**
 * A configuration value that cannot be used. The server entry turns it into
 * exit code 2, so the message must say which variable is wrong and what to do.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
  }
}
