/**
 * Fuzzing OriginPolicy, the --allowed-origins check: the defence against a
 * web page on another site opening a WebSocket to the gateway with the
 * visitor's cookies or network position (cross-site WebSocket hijacking).
 *
 * Compared with a reference model of the documented rules, written from
 * the documentation rather than the code:
 *   - an exact origin matches that scheme, host and port (the port written
 *     only when it is not the scheme's default, as browsers serialise it);
 *   - `https://*.example.com` matches any subdomain over https, default port;
 *   - `*.example.com` matches any subdomain over any scheme, default port;
 *   - a wildcard never matches the bare domain;
 *   - hosts compare case-insensitively;
 *   - an empty list allows every origin.
 * Origins are generated as browsers serialise them (RFC 6454): what a
 * non-browser client sends is its own business, since it can send anything.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { OriginPolicy } from '../../src/server/origin.js'
import { fuzz } from '../support/fuzz.js'

// ---------------------------------------------------------------- reference

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443', ws: '80', wss: '443' }

interface Origin { scheme: string, host: string, port: string | undefined }

/** A pattern as the documentation describes it. */
type Rule =
  | { kind: 'exact', scheme: string, host: string, port: string | undefined }
  | { kind: 'wildcard', scheme: string | undefined, domain: string }

function ruleAllows (rule: Rule, o: Origin): boolean {
  const scheme = o.scheme.toLowerCase()
  const host = o.host.toLowerCase()
  if (rule.kind === 'exact') {
    return rule.scheme.toLowerCase() === scheme && rule.host.toLowerCase() === host && rule.port === o.port
  }
  const domain = rule.domain.toLowerCase()
  return (rule.scheme === undefined || rule.scheme.toLowerCase() === scheme) &&
    o.port === undefined && host.endsWith(`.${domain}`) && host.length > domain.length + 1
}

function modelAllows (rules: readonly Rule[], o: Origin): boolean {
  return rules.length === 0 || rules.some((r) => ruleAllows(r, o))
}

function ruleText (r: Rule): string {
  if (r.kind === 'exact') return `${r.scheme}://${r.host}${r.port === undefined ? '' : `:${r.port}`}`
  return `${r.scheme === undefined ? '' : `${r.scheme}://`}*.${r.domain}`
}

function originText (o: Origin): string {
  return `${o.scheme}://${o.host}${o.port === undefined ? '' : `:${o.port}`}`
}

// ---------------------------------------------------------------- generators

/** A small world of names, so that generated origins and patterns often meet. */
const label = fc.constantFrom('app', 'api', 'a', 'b-c', 'x1', 'www', 'evil', 'example')
const domain = fc.constantFrom('example.com', 'example.org', 'app.example.com', 'com', 'evilexample.com', 'example.com.evil.net')
/** Host names in any letter case: browsers send lower case, the check must not depend on it. */
const anyCase = (text: string): fc.Arbitrary<string> => fc.array(fc.boolean(), { minLength: text.length, maxLength: text.length })
  .map((upper) => [...text].map((c, i) => (upper[i] === true ? c.toUpperCase() : c)).join(''))
const hostName = fc.tuple(fc.array(label, { maxLength: 2 }), domain).map(([labels, d]) => [...labels, d].join('.')).chain(anyCase)
const host = fc.oneof({ weight: 6, arbitrary: hostName }, { weight: 1, arbitrary: fc.constantFrom('127.0.0.1', '[::1]', 'localhost') })
const scheme = fc.constantFrom('https', 'http', 'wss', 'HTTPS', 'chrome-extension')
const port = fc.option(fc.constantFrom('443', '80', '8443', '3000', '1'), { nil: undefined })

/** Drops the port when it is the scheme's default: browsers never write it, and the documentation says to omit it. */
function serialised<T extends { scheme: string, port: string | undefined }> (o: T): T {
  return o.port === DEFAULT_PORTS[o.scheme.toLowerCase()] ? { ...o, port: undefined } : o
}

const origin: fc.Arbitrary<Origin> = fc.record({ scheme: fc.constantFrom('https', 'http', 'wss'), host, port }).map(serialised)

const rule: fc.Arbitrary<Rule> = fc.oneof(
  fc.record({ kind: fc.constant('exact' as const), scheme, host, port }).map(serialised),
  fc.record({ kind: fc.constant('wildcard' as const), scheme: fc.option(fc.constantFrom('https', 'http', 'HTTPS'), { nil: undefined }), domain: domain.chain(anyCase) })
)

/** Anything a hostile client can put in an Origin header. */
const anyOrigin = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.webUrl(),
  origin.map(originText).map((o) => ` ${o}/path?q#h `),
  fc.constantFrom('null', '', 'https://', 'https://:443', 'https://[::1', 'http://a.example.com:99999', 'javascript:alert(1)')
)

// ---------------------------------------------------------------- properties

describe('OriginPolicy fuzz', () => {
  // A mismatch either way is a defect: allowing what the operator did not
  // list lets another site's page use the gateway from a visitor's
  // browser; refusing what was listed locks out the operator's own app.
  test('browser origins: agrees with the reference model of the documented rules', () => fuzz(
    fc.property(fc.array(rule, { maxLength: 4 }), origin, fc.boolean(), (rules, o, allowMissing) => {
      const policy = new OriginPolicy(rules.map(ruleText), allowMissing)
      assert.equal(policy.allows(originText(o)), modelAllows(rules, o), `${originText(o)} against ${JSON.stringify(rules.map(ruleText))}`)
    }), 800))

  // The Origin header is the client's to write: the check runs on every
  // upgrade, so a throw is a failed (or crashed) request any client can
  // cause.
  test('never throws on any header value or pattern', () => fuzz(
    fc.property(fc.array(fc.oneof(rule.map(ruleText), fc.string({ maxLength: 30 })), { maxLength: 4 }), fc.option(anyOrigin, { nil: undefined }), fc.boolean(), (patterns, o, allowMissing) => {
      assert.equal(typeof new OriginPolicy(patterns, allowMissing).allows(o), 'boolean')
    }), 500))

  // allowMissing lets clients without an Origin in (devices, native apps);
  // browsers always send one. `Origin: null` comes from a browser
  // (sandboxed iframes, file: pages, some redirects): treating it as
  // missing lets any web page through the allowlist (issue 11, defect 3).
  test('Origin: null is never allowed by a non-empty list, whatever allowMissing says', () => fuzz(
    fc.property(fc.array(rule, { minLength: 1, maxLength: 4 }), fc.boolean(), (rules, allowMissing) => {
      assert.equal(new OriginPolicy(rules.map(ruleText), allowMissing).allows('null'), false)
    }), 100))

  test('a missing Origin is allowed exactly when allowMissing is set or the list is empty', () => fuzz(
    fc.property(fc.array(rule, { maxLength: 4 }), fc.boolean(), fc.constantFrom(undefined, ''), (rules, allowMissing, missing) => {
      assert.equal(new OriginPolicy(rules.map(ruleText), allowMissing).allows(missing), allowMissing || rules.length === 0)
    }), 100))
})
