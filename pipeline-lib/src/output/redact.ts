/**
 * Credentials that can ride inside a URL, kept out of everything the CLI
 * prints: a kubeconfig server, a registry, `verify --url`, BUILD_URL. Only the
 * secret parts change; the rest of the URL stays as written, so a message
 * still says where it went.
 */

/** Query parameters whose values are credentials (`?token=…`, `&X-Amz-Signature=…`). */
const SECRET_QUERY_PARAMETER =
  /^(?:.*(?:token|secret|password|passwd|pwd|key|signature|sig|auth|credential|session).*|code)$/i;

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^@/?#\s]*@/i;

/**
 * `https://user:pass@host/x?token=t&page=2` → `https://***@host/x?token=***&page=2`.
 * Anything else (no credentials, not a URL at all) comes back unchanged.
 */
export function redactUrl(url: string): string {
  const withoutUserinfo = url.replace(USERINFO, "$1***@");
  const queryAt = withoutUserinfo.indexOf("?");
  if (queryAt < 0) return withoutUserinfo;
  const hashAt = withoutUserinfo.indexOf("#", queryAt);
  const end = hashAt < 0 ? withoutUserinfo.length : hashAt;
  const query = withoutUserinfo
    .slice(queryAt + 1, end)
    .split("&")
    .map((pair) => {
      const equals = pair.indexOf("=");
      if (equals < 0) return pair;
      const name = safeDecode(pair.slice(0, equals));
      return SECRET_QUERY_PARAMETER.test(name) ? `${pair.slice(0, equals)}=***` : pair;
    })
    .join("&");
  return `${withoutUserinfo.slice(0, queryAt + 1)}${query}${withoutUserinfo.slice(end)}`;
}

/** Every URL in a text (an error message, a cause), redacted as {@link redactUrl} does. */
export function redactUrls(text: string): string {
  // Punctuation that ends a sentence is not part of the URL.
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*[^\s"'<>`.,;:!?)\]]/gi, (url) =>
    redactUrl(url),
  );
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
