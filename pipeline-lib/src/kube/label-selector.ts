/** `app=web,tier=front` from `{ app: "web", tier: "front" }`. */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");
}
