import { RedisContainer, type StartedRedisContainer } from "@testcontainers/redis";
import Docker from "dockerode";
import { GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import { baseImages } from "./base-images.js";
import { freePort } from "./free-port.js";

export async function startRedis(): Promise<StartedRedisContainer> {
  return new RedisContainer((await baseImages()).redis).start();
}

export interface StoppableRedis {
  container: StartedTestContainer;
  url: string;
  /** `docker stop`: Redis exits and its port refuses connections. */
  stop(): Promise<void>;
  /** `docker start` of the same container, on the same host port. */
  start(): Promise<void>;
  /** `docker pause`: connections stay open but nothing answers, like a hung host. */
  pause(): Promise<void>;
  unpause(): Promise<void>;
}

/**
 * A Redis container that can be stopped and started again without changing
 * its address. Docker gives an ephemeral host port a new number on restart,
 * which no real outage does, so this one is published on a fixed free port.
 */
export async function startStoppableRedis(docker = new Docker()): Promise<StoppableRedis> {
  const port = await freePort();
  const container = await new GenericContainer((await baseImages()).redis)
    .withExposedPorts({ container: 6379, host: port })
    .withWaitStrategy(Wait.forLogMessage("Ready to accept connections"))
    .start();
  const handle = docker.getContainer(container.getId());
  return {
    container,
    url: `redis://${container.getHost()}:${port}`,
    stop: async () => {
      await handle.stop({ t: 1 });
    },
    start: async () => {
      await handle.start();
    },
    pause: async () => {
      await handle.pause();
    },
    unpause: async () => {
      await handle.unpause();
    },
  };
}
