/**
 * The wire formats' shared pieces, in one place for the load tool (bench/)
 * and the tests: WebSocket opcodes and masked client frames, random bytes
 * for keys and nonces. The gateway's own modules import the file they need.
 */
export * from './websocket.js'
export { fillRandom } from './random-pool.js'
