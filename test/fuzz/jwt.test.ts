/**
 * Fuzzing the token check's handling of hostile text: extractToken (the
 * Authorization header, the access_token query parameter, a cookie) and
 * TokenVerifier.check/verify on whatever token that yields. All of it runs
 * on every upgrade before anything is authenticated.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { SignJWT } from 'jose'
import { TokenVerifier, extractToken } from '../../src/server/jwt.js'
import { fuzz } from '../support/fuzz.js'

/** Header text near the grammar (Bearer, ";", "=", quotes, "%") and anywhere else. */
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 80 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }) },
  { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom('Bearer', 'bearer', ' ', '\t', ';', '=', '"', '%', '%zz', 'a', '.', 'access_token', 'token', '?', '&', '#'), maxLength: 40 }) },
  // Huge, and shaped to make a backtracking regular expression work hard.
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 100000 }).map((n) => `Bearer ${' '.repeat(n)}x${' '.repeat(n)}y`) }
)

const headers: fc.Arbitrary<IncomingHttpHeaders> = fc.record({ authorization: text, cookie: text }, { requiredKeys: [] })
const url = fc.option(fc.oneof(text, text.map((t) => `/mqtt?${t}`), text.map((t) => `/mqtt?access_token=${t}#${t}`)), { nil: undefined })
const cookieName = fc.option(fc.oneof(fc.constantFrom('token', 'access_token', ''), fc.string({ maxLength: 8 })), { nil: undefined })

const SECRET = 'a-secret-of-at-least-thirty-two-bytes!'
const verifier = TokenVerifier.fromOptions({
  jwtSecret: SECRET,
  jwtPublicKey: undefined,
  jwtJwks: undefined,
  jwtAudience: undefined,
  jwtIssuer: undefined,
  jwtCookie: 'token',
  jwtClientIdClaim: 'cid',
  jwtUsernameClaim: undefined,
  jwtClockTolerance: 0
}) as TokenVerifier

describe('token extraction and check fuzz', () => {
  // A throw in extraction fails the upgrade with a 500 (or worse) for a
  // header any client can send; an empty token would be checked as if it
  // were one.
  test('extractToken never throws, and yields no token or a non-empty one', () => fuzz(
    fc.property(headers, url, cookieName, (h, u, name) => {
      const token = extractToken(h, u, name)
      assert.ok(token === undefined || (typeof token === 'string' && token.length > 0), `token ${JSON.stringify(token)}`)
      const bearer = /^Bearer +(\S+) *$/i.exec(h.authorization ?? '')?.[1]
      if (bearer !== undefined) assert.equal(token, bearer, 'Authorization: Bearer comes first')
    }), 500))

  // check() promises never to reject: a rejection on hostile input would
  // escape the upgrade handler. Nothing but a token signed with the secret
  // may pass.
  test('check never rejects and refuses anything not signed with the key', () => fuzz(
    fc.asyncProperty(headers, url, async (h, u) => {
      const verdict = await verifier.check({ headers: h, url: u } as IncomingMessage)
      assert.equal(verdict.ok, false)
    }), 300))

  // Signed tokens with one character replaced by 1-3 others: the
  // signature check must refuse every one that says something else (and
  // not throw on the broken encodings).
  test('a signed token altered anywhere is refused, never thrown on', () => fuzz(
    fc.asyncProperty(fc.record({ sub: fc.string({ maxLength: 20 }), cid: fc.string({ maxLength: 20 }) }), fc.nat(), fc.string({ minLength: 1, maxLength: 3 }), async (claims, at, insert) => {
      const token = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))
      assert.equal((await verifier.verify(token)).ok, true, 'the token as signed passes')
      const i = at % token.length
      const altered = token.slice(0, i) + insert + token.slice(i + 1)
      const verdict = await verifier.verify(altered)
      if (!sameJws(altered, token)) assert.equal(verdict.ok, false, `accepted ${altered}`)
    }), 150))
})

/**
 * Two compact JWS that sign the same thing with the same signature: the
 * signed text (header.payload) identical, character for character, and the
 * signatures decoding to the same bytes. A signature's text has slack: its
 * last base64url character carries bits no byte uses, and the decoder skips
 * whitespace, so "...sT CkoX..." is the same signature as "...sTCkoX..."
 * (found by a long run, FUZZ_SEED=116801436). Nothing signed changes, so
 * accepting those is no defect.
 */
function sameJws (a: string, b: string): boolean {
  const pa = a.split('.')
  const pb = b.split('.')
  return pa.length === 3 && pb.length === 3 && pa[0] === pb[0] && pa[1] === pb[1] &&
    Buffer.from(pa[2] as string, 'base64url').equals(Buffer.from(pb[2] as string, 'base64url'))
}
