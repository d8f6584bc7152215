import { createPrivateKey, createPublicKey, sign, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { PipelineConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { keyIdOf, type EvidenceSigner, type TrustedKey } from "./envelope.js";

const PEM_PUBLIC = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/**
 * The public keys the config trusts (`evidence.trustedKeys`): PEM files,
 * relative to the config file, or PEM text. A file may hold several keys, so
 * a new key can be trusted beside the old one while both sign.
 */
export async function loadTrustedKeys(
  config: Pick<PipelineConfig, "evidence" | "root" | "file">,
): Promise<TrustedKey[]> {
  const keys: TrustedKey[] = [];
  for (const entry of config.evidence.trustedKeys) {
    const inline = entry.includes("-----BEGIN");
    const where = inline ? "inline key" : path.resolve(config.root, entry);
    let text = entry;
    if (!inline) {
      try {
        text = await readFile(where, "utf8");
      } catch (error) {
        throw new ConfigError(
          `${config.file}: evidence.trustedKeys: cannot read ${where}; put the team's public key ` +
            'there (README, "Signing keys") or point the entry at it',
          { cause: error },
        );
      }
    }
    const blocks = text.match(PEM_PUBLIC) ?? [];
    if (blocks.length === 0) {
      throw new ConfigError(
        `${config.file}: evidence.trustedKeys: ${where} holds no PEM public key (-----BEGIN PUBLIC KEY-----)`,
      );
    }
    blocks.forEach((pem, i) => {
      const key = publicKey(
        pem,
        `${where}${blocks.length > 1 ? ` (key ${i + 1})` : ""}`,
        config.file,
      );
      keys.push({ keyId: keyIdOf(key), key, source: where });
    });
  }
  return keys;
}

function publicKey(pem: string, where: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new ConfigError(`${file}: evidence.trustedKeys: ${where} is not a valid public key`, {
      cause: error,
    });
  }
  assertP256(key, `${file}: evidence.trustedKeys: ${where}`);
  return key;
}

function assertP256(key: KeyObject, where: string): void {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new ConfigError(
      `${where} is ${key.asymmetricKeyType ?? "an unknown"} key${key.asymmetricKeyDetails?.namedCurve ? ` on ${key.asymmetricKeyDetails.namedCurve}` : ""}; ` +
        "evidence is signed with ECDSA P-256 (openssl ecparam -name prime256v1, or cosign generate-key-pair)",
    );
  }
}

/** A signer over an unencrypted PEM private key file (PKCS#8 or SEC1), as Jenkins' file credential provides it. */
export async function keyFileSigner(file: string): Promise<EvidenceSigner> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read the signing key ${file}`, { cause: error });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (error) {
    throw new ConfigError(
      `${file} is not an unencrypted PEM private key; make one with ` +
        '`openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt` (README, "Signing keys")',
      { cause: error },
    );
  }
  assertP256(key, `the signing key ${file}`);
  const publicKeyPem = createPublicKey(key).export({ type: "spki", format: "pem" }).toString();
  return {
    publicKeyPem,
    sign: (data) => Promise.resolve(sign("sha256", data, { key, dsaEncoding: "der" })),
  };
}

/** The signer the environment provides (the variable `evidence.signingKeyEnv` names), if any. */
export async function signerFromEnv(
  config: Pick<PipelineConfig, "evidence">,
  env: NodeJS.ProcessEnv,
): Promise<EvidenceSigner | undefined> {
  const file = env[config.evidence.signingKeyEnv];
  return file ? keyFileSigner(file) : undefined;
}
