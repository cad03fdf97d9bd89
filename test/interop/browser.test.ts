/** Interop: MQTT.js's browser bundle in headless Chromium, through the gateway, to Aedes and to Mosquitto. */
import { describe } from 'node:test'
import { startBrowser } from '../support/browser.js'
import { skipUnlessAvailable } from '../support/programs.js'
import { interopMatrix } from './matrix.js'

describe('interop: MQTT.js (Chromium)', { skip: skipUnlessAvailable('interop MQTT.js (Chromium)', 'mosquitto', 'chromium') }, () => {
  interopMatrix(startBrowser, [4, 5])
})
