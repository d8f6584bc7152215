/** Image names come from the environment so that offline machines can use local builds. */
export const REDIS_IMAGE = process.env.REDIS_IMAGE ?? "redis:7-bookworm";
export const NODE_IMAGE = process.env.NODE_IMAGE ?? "node:24-bookworm-slim";
