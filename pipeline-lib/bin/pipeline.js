#!/usr/bin/env node
// The only place that calls process.exit: Docker and Kubernetes clients may keep
// sockets open, and the exit code must not wait for them. Build first (`npm run build`).
import { main } from "../dist/main.js";

process.exit(await main(process.argv.slice(2)));
