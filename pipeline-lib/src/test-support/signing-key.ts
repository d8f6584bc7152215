import { generateKeyPairSync } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

/** An ECDSA P-256 key pair in files, as a team keeps it: the private half for Jenkins, the public half for the config. */
export interface SigningKeyFiles {
  privateKeyFile: string;
  publicKeyFile: string;
  publicKeyPem: string;
  /** What a run that signs and trusts this key sets: PIPELINE_SIGNING_KEY and PIPELINE_TRUSTED_KEY. */
  env: { PIPELINE_SIGNING_KEY: string; PIPELINE_TRUSTED_KEY: string };
}

/** Writes a fresh key pair into `dir` (PKCS#8 and SPKI PEM, as openssl writes them). */
export async function makeSigningKey(dir: string, name = "signing"): Promise<SigningKeyFiles> {
  await mkdir(dir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const privateKeyFile = path.join(dir, `${name}.key`);
  const publicKeyFile = path.join(dir, `${name}.pub`);
  const publicKeyPem = publicKey.export({ type: "spki", format: "pem" }).toString();
  await writeFile(privateKeyFile, privateKey.export({ type: "pkcs8", format: "pem" }), {
    mode: 0o600,
  });
  await writeFile(publicKeyFile, publicKeyPem);
  return {
    privateKeyFile,
    publicKeyFile,
    publicKeyPem,
    env: { PIPELINE_SIGNING_KEY: privateKeyFile, PIPELINE_TRUSTED_KEY: publicKeyFile },
  };
}
