/** The Node.js and Redis images to build on and run beside; see test/support/base-images.ts. */
export { NODE_IMAGE, REDIS_IMAGE } from "../../../test/support/base-images.js";
