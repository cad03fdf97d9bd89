/**
 * The token check: where the token is read from, which keys and algorithms
 * verify it, and the options that configure it.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose'
import type { CryptoKey, JWTPayload } from 'jose'
import { InvalidOptionError, closeReasons, upgradeRejections } from '../../../src/errors.js'
import { createMetrics } from '../../../src/observe/metrics.js'
import { resolveOptions } from '../../../src/options.js'
import type { GatewayOptions } from '../../../src/options.js'
import { TokenVerifier, extractToken } from '../../../src/server/jwt.js'
import type { TokenVerdict } from '../../../src/server/jwt.js'

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'

function verifier (options: Partial<GatewayOptions>): TokenVerifier {
  const made = TokenVerifier.fromOptions(resolveOptions(options))
  assert.ok(made !== undefined)
  return made
}

function sign (key: CryptoKey | Uint8Array, alg: string, claims: JWTPayload = {}, expiresIn: string | number = '1h'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg }).setIssuedAt().setExpirationTime(expiresIn).sign(key)
}

function assertInvalid (verdict: TokenVerdict, pattern: RegExp): void {
  assert.equal(verdict.ok, false, 'token accepted')
  if (!verdict.ok) {
    assert.equal(verdict.reason, 'token_invalid')
    assert.match(verdict.detail, pattern)
  }
}

describe('extractToken', () => {
  const cases: [string, Record<string, string>, string, string | undefined, string | undefined][] = [
    ['Authorization: Bearer', { authorization: 'Bearer h.h.h' }, '/mqtt', undefined, 'h.h.h'],
    ['the scheme is case-insensitive', { authorization: 'bearer  h.h.h ' }, '/mqtt', undefined, 'h.h.h'],
    ['header before query and cookie', { authorization: 'Bearer h.h.h', cookie: 'jwt=c.c.c' }, '/mqtt?access_token=q.q.q', 'jwt', 'h.h.h'],
    ['a Basic header falls through to the query', { authorization: 'Basic dXNlcjpwYXNz' }, '/mqtt?access_token=q.q.q', undefined, 'q.q.q'],
    ['query before cookie', { cookie: 'jwt=c.c.c' }, '/mqtt?x=1&access_token=q.q.q#frag', 'jwt', 'q.q.q'],
    ['an empty query value falls through', { cookie: 'jwt=c.c.c' }, '/mqtt?access_token=', 'jwt', 'c.c.c'],
    ['the named cookie', { cookie: 'other=o; jwt=c.c.c; more=m' }, '/mqtt', 'jwt', 'c.c.c'],
    ['a quoted cookie value', { cookie: 'jwt="c.c.c"' }, '/mqtt', 'jwt', 'c.c.c'],
    ['cookies only when a name is configured', { cookie: 'jwt=c.c.c' }, '/mqtt', undefined, undefined],
    ['a cookie name is matched exactly', { cookie: 'xjwt=c.c.c' }, '/mqtt', 'jwt', undefined],
    ['nothing at all', {}, '/mqtt', 'jwt', undefined]
  ]
  for (const [what, headers, url, cookie, expected] of cases) {
    test(what, () => assert.equal(extractToken(headers, url, cookie), expected))
  }
})

describe('TokenVerifier', () => {
  let dir: string
  let es: { publicKey: CryptoKey, privateKey: CryptoKey }
  let rs: { publicKey: CryptoKey, privateKey: CryptoKey }
  let other: { publicKey: CryptoKey, privateKey: CryptoKey }
  let pemPath: string
  let pemText: string
  let jwksPath: string

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mwg-jwt-'))
    es = await generateKeyPair('ES256', { extractable: true })
    rs = await generateKeyPair('RS256', { extractable: true })
    other = await generateKeyPair('ES256', { extractable: true })
    pemText = await exportSPKI(es.publicKey)
    pemPath = join(dir, 'es256.pem')
    writeFileSync(pemPath, pemText)
    const jwks = { keys: [{ ...await exportJWK(es.publicKey), kid: 'es', alg: 'ES256' }, { ...await exportJWK(rs.publicKey), kid: 'rs', alg: 'RS256' }] }
    jwksPath = join(dir, 'jwks.json')
    writeFileSync(jwksPath, JSON.stringify(jwks))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  const secret = new TextEncoder().encode(SECRET)

  test('no key option: no check', () => {
    assert.equal(TokenVerifier.fromOptions(resolveOptions({})), undefined)
  })

  test('HS256 with the shared secret; expiresAt is exp plus the clock tolerance', async () => {
    const token = await new SignJWT({ sub: 'dev-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(2_000_000_000).sign(secret)
    const verdict = await verifier({ jwtSecret: SECRET, jwtClockTolerance: 3, jwtClientIdClaim: 'sub' }).verify(token)
    assert.deepEqual(verdict, { ok: true, grant: { expiresAt: 2_000_000_003_000, clientId: 'dev-1', username: undefined } })
  })

  test('a token without exp is refused by default, and the detail says why', async () => {
    const token = await new SignJWT({ sub: 'forever' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    assertInvalid(await verifier({ jwtSecret: SECRET }).verify(token), /missing required "exp" claim \(exp\).*--jwt-allow-no-exp/)
  })

  test('with jwtAllowNoExp a token without exp never expires; a missing or non-string client id or username claim is undefined', async () => {
    const token = await new SignJWT({ client_id: 42 }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    assert.deepEqual(await verifier({ jwtSecret: SECRET, jwtAllowNoExp: true, jwtClientIdClaim: 'client_id', jwtUsernameClaim: 'user' }).verify(token),
      { ok: true, grant: { expiresAt: undefined, clientId: undefined, username: undefined } })
  })

  test('the username claim is read when asked for', async () => {
    const token = await new SignJWT({ preferred_username: 'alice' }).setProtectedHeader({ alg: 'HS256' }).sign(secret)
    assert.deepEqual(await verifier({ jwtSecret: SECRET, jwtAllowNoExp: true, jwtUsernameClaim: 'preferred_username' }).verify(token),
      { ok: true, grant: { expiresAt: undefined, clientId: undefined, username: 'alice' } })
  })

  test('HS256 with another secret is refused', async () => {
    const token = await sign(new TextEncoder().encode('another-secret-of-at-least-32-bytes!'), 'HS256')
    assertInvalid(await verifier({ jwtSecret: SECRET }).verify(token), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
  })

  test('ES256 with a PEM public key', async () => {
    const verdict = await verifier({ jwtPublicKey: pemPath }).verify(await sign(es.privateKey, 'ES256', { sub: 'a' }))
    assert.equal(verdict.ok, true)
  })

  test('ES256 signed by another key is refused', async () => {
    assertInvalid(await verifier({ jwtPublicKey: pemPath }).verify(await sign(other.privateKey, 'ES256')), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
  })

  test('JWKS: ES256 and RS256 keys, picked by kid', async () => {
    const jwks = verifier({ jwtJwks: jwksPath })
    const esToken = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'es' }).setExpirationTime('1h').sign(es.privateKey)
    const rsToken = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rs' }).setExpirationTime('1h').sign(rs.privateKey)
    assert.equal((await jwks.verify(esToken)).ok, true)
    assert.equal((await jwks.verify(rsToken)).ok, true)
    const stranger = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'es' }).sign(other.privateKey)
    assertInvalid(await jwks.verify(stranger), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/)
  })

  test("alg 'none' is refused by every key kind", async () => {
    const unsigned = new UnsecuredJWT({ sub: 'a' }).setExpirationTime('1h').encode()
    for (const options of [{ jwtSecret: SECRET }, { jwtPublicKey: pemPath }, { jwtJwks: jwksPath }]) {
      assertInvalid(await verifier(options).verify(unsigned), /ERR_JOSE_ALG_NOT_ALLOWED/)
    }
  })

  test('an HS256 token keyed with the public key itself is refused (RFC 8725 §2.1)', async () => {
    const forged = await sign(new TextEncoder().encode(pemText), 'HS256')
    assertInvalid(await verifier({ jwtPublicKey: pemPath }).verify(forged), /ERR_JOSE_ALG_NOT_ALLOWED/)
    assertInvalid(await verifier({ jwtJwks: jwksPath }).verify(forged), /ERR_JOSE_ALG_NOT_ALLOWED/)
  })

  test('an RS256 token against an ES256 public key is refused', async () => {
    assertInvalid(await verifier({ jwtPublicKey: pemPath }).verify(await sign(rs.privateKey, 'RS256')), /ERR_JOSE_ALG_NOT_ALLOWED/)
  })

  test('expired, past the clock tolerance, is refused; within it, accepted', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = await sign(secret, 'HS256', {}, now - 10)
    assertInvalid(await verifier({ jwtSecret: SECRET, jwtClockTolerance: 5 }).verify(expired), /ERR_JWT_EXPIRED/)
    assert.equal((await verifier({ jwtSecret: SECRET, jwtClockTolerance: 30 }).verify(expired)).ok, true)
  })

  test('audience and issuer are checked when set', async () => {
    const token = await sign(secret, 'HS256', { aud: 'mqtt', iss: 'https://id.example.com' })
    assert.equal((await verifier({ jwtSecret: SECRET, jwtAudience: 'mqtt', jwtIssuer: 'https://id.example.com' }).verify(token)).ok, true)
    assertInvalid(await verifier({ jwtSecret: SECRET, jwtAudience: 'other' }).verify(token), /ERR_JWT_CLAIM_VALIDATION_FAILED.*\(aud\)/)
    assertInvalid(await verifier({ jwtSecret: SECRET, jwtIssuer: 'https://evil.example.com' }).verify(token), /ERR_JWT_CLAIM_VALIDATION_FAILED.*\(iss\)/)
    const noAudience = await sign(secret, 'HS256')
    assertInvalid(await verifier({ jwtSecret: SECRET, jwtAudience: 'mqtt' }).verify(noAudience), /\(aud\)/)
  })

  test('garbage is refused, not thrown', async () => {
    for (const junk of ['', 'a.b', 'a.b.c', 'x'.repeat(5000)]) assertInvalid(await verifier({ jwtSecret: SECRET }).verify(junk), /ERR_/)
  })

  test('key files are read at start-up and refused with the option named', () => {
    const throwsFor = (options: Partial<GatewayOptions>, option: string, pattern: RegExp): void => {
      assert.throws(() => TokenVerifier.fromOptions(resolveOptions(options)), (err: unknown) =>
        err instanceof InvalidOptionError && err.option === option && pattern.test(err.message))
    }
    throwsFor({ jwtPublicKey: join(dir, 'missing.pem') }, 'jwtPublicKey', /ENOENT/)
    writeFileSync(join(dir, 'junk.pem'), '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n')
    throwsFor({ jwtPublicKey: join(dir, 'junk.pem') }, 'jwtPublicKey', /not a valid PEM public key/)
    writeFileSync(join(dir, 'private.pem'), '-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n')
    throwsFor({ jwtPublicKey: join(dir, 'private.pem') }, 'jwtPublicKey', /BEGIN PUBLIC KEY/)
    writeFileSync(join(dir, 'jwks-bad.json'), '{"keys": []}')
    throwsFor({ jwtJwks: join(dir, 'jwks-bad.json') }, 'jwtJwks', /JWK Set/)
    writeFileSync(join(dir, 'jwks-junk.json'), '{keys')
    throwsFor({ jwtJwks: join(dir, 'jwks-junk.json') }, 'jwtJwks', /not valid JSON/)
  })
})

describe('token options', () => {
  const invalid = (options: Record<string, unknown>, option: string): void => {
    assert.throws(() => resolveOptions(options as Partial<GatewayOptions>), (err: unknown) => err instanceof InvalidOptionError && err.option === option, JSON.stringify(options))
  }

  test('one key source at most', () => {
    invalid({ jwtSecret: SECRET, jwtPublicKey: '/k.pem' }, 'jwtPublicKey')
    invalid({ jwtPublicKey: '/k.pem', jwtJwks: '/k.json' }, 'jwtJwks')
  })

  test('refinements need a key source', () => {
    for (const name of ['jwtAudience', 'jwtIssuer', 'jwtCookie', 'jwtClientIdClaim', 'jwtUsernameClaim']) invalid({ [name]: 'x' }, name)
    invalid({ jwtAllowNoExp: true }, 'jwtAllowNoExp')
    assert.equal(resolveOptions({ jwtSecret: SECRET, jwtAudience: 'a', jwtIssuer: 'i', jwtCookie: 'jwt', jwtClientIdClaim: 'sub' }).jwtCookie, 'jwt')
  })

  test('an HS256 secret has at least 32 bytes; a cookie name is an HTTP token; tolerance is bounded', () => {
    invalid({ jwtSecret: 'short' }, 'jwtSecret')
    invalid({ jwtSecret: SECRET, jwtCookie: 'a b' }, 'jwtCookie')
    invalid({ jwtSecret: SECRET, jwtCookie: 'a;b' }, 'jwtCookie')
    invalid({ jwtClockTolerance: -1 }, 'jwtClockTolerance')
    invalid({ jwtClockTolerance: 301 }, 'jwtClockTolerance')
  })
})

describe('registries', () => {
  test('token rejections are 401 with one generic message; token closes are 1008 by the gateway', () => {
    assert.deepEqual(upgradeRejections.token_missing, upgradeRejections.token_invalid)
    assert.equal(upgradeRejections.token_missing.status, 401)
    assert.deepEqual(closeReasons.token_expired, { initiator: 'gateway', code: 1008 })
    assert.deepEqual(closeReasons.client_id_mismatch, { initiator: 'gateway', code: 1008 })
  })

  test('the metrics start every token reason at zero', async () => {
    const stats = { connections: 0, bytesFromClients: 0, bytesToClients: 0, packetsFromClients: 0, packetsToClients: 0, bufferedBytes: 0 }
    const metrics = createMetrics({ id: -1, connections: 0, stats: () => stats }, { tcpUpstream: true, upstreamReachable: () => undefined })
    after(() => metrics.stop())
    const text = await metrics.registry.metrics()
    for (const reason of ['token_missing', 'token_invalid']) assert.match(text, new RegExp(`upgrades_rejected_total\\{reason="${reason}"\\} 0`))
    for (const reason of ['token_expired', 'client_id_mismatch']) assert.match(text, new RegExp(`connections_closed_total\\{initiator="gateway",reason="${reason}"\\} 0`))
  })
})
