/** Interop: Paho MQTT 1.6 (Python) over WebSocket, through the gateway, to Aedes and to Mosquitto. */
import { describe } from 'node:test'
import { pahoDriver } from '../support/paho.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { interopMatrix } from './matrix.js'

describe('interop: Paho (Python)', { skip: skipUnlessAvailable('interop Paho (Python)', 'mosquitto', 'paho') }, () => {
  interopMatrix(async () => ({ driver: pahoDriver, close: async () => {} }), pahoDriver.versions)
})
