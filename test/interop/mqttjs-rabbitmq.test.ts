/**
 * Interop: MQTT.js over WebSocket in Node, through the gateway, to RabbitMQ
 * 3.10's MQTT plugin, a third broker implementation next to Aedes and
 * Mosquitto. The matrix of mqttjs-node.test.ts with RabbitMQ's documented
 * differences: it speaks MQTT 3.1.1 only (the MQTT 5 cells check that its
 * refusal reaches the client) and grants at most QoS 1 (QoS 2 publishes and
 * subscriptions are downgraded to QoS 1).
 */
import { describe } from 'node:test'
import { mqttjsDriver } from '../support/mqttjs.js'
import { skipUnlessRabbitmq } from '../support/rabbitmq.js'
import { interopMatrix } from './matrix.js'

describe('interop: MQTT.js (Node) to RabbitMQ', { skip: skipUnlessRabbitmq('interop MQTT.js (Node) to RabbitMQ') }, () => {
  interopMatrix(async () => ({ driver: mqttjsDriver, close: async () => {} }), mqttjsDriver.versions, ['rabbitmq'])
})
