/** Interop: MQTT.js over WebSocket in Node, through the gateway, to Aedes and to Mosquitto. */
import { describe } from 'node:test'
import { mqttjsDriver } from '../support/mqttjs.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { interopMatrix } from './matrix.js'

describe('interop: MQTT.js (Node)', { skip: skipUnlessAvailable('interop MQTT.js (Node)', 'mosquitto') }, () => {
  interopMatrix(async () => ({ driver: mqttjsDriver, close: async () => {} }), mqttjsDriver.versions)
})
