// Root tests may import from the packages: one free-port helper serves them all.
export { freePort } from "../../pipeline-lib/src/test-support/free-port.js";
