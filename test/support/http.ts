/**
 * A plain HTTP GET on loopback with a bounded wait, for admin and CLI tests.
 */
import http from 'node:http'
import { withTimeout } from './wait.js'

export async function httpGet (port: number, path: string, ms = 6000): Promise<{ status: number, body: string }> {
  const response = new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.setTimeout(ms - 1000, () => req.destroy(new Error('HTTP request timed out')))
  })
  return await withTimeout(response, ms, `GET ${path}`)
}
