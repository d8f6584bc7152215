// Root tests may import from the packages: one resolver serves them all.
export { baseImages } from "../../pipeline-lib/src/test-support/base-images.js";
