/**
 * The wire formats' shared pieces, in one place for the load tool (bench/)
 * and the tests: WebSocket opcodes and masked client frames, random bytes
 * for keys and nonces, MQTT packet types and the remaining length's
 * variable byte integer. The gateway's own modules import the file they need.
 */
export * from './mqtt.js'
export * from './websocket.js'
export { fillRandom } from './random-pool.js'
