/**
 * deploy/kubernetes/: valid against the Kubernetes schemas (with unknown
 * fields refused, as `kubectl apply` refuses them), and consistent with the
 * gateway and the image: probes on the admin port the gateway really uses,
 * /readyz for readiness and /healthz for liveness, a grace period that
 * covers preStop + --shutdown-delay + --shutdown-period + --close-timeout,
 * a delay that outlasts the readiness probe, ingress-nginx timeouts beyond
 * 1.5 × the longest keep-alive, the pod name as --instance-id, and selectors
 * that select the Deployment's pods. No cluster is needed.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { LONGEST_KEEPALIVE_S, ROOT, STOP_MARGIN_S, findManifest, readImage, readKubernetes } from '../support/deploy-files.js'
import type { Manifest } from '../support/deploy-files.js'
import { gatewayInvocations, optionValue, printConfig, todaysOptions } from '../support/deploy-gateway-cli.js'
import { strictFieldErrors, validateModel } from '../support/deploy-kubernetes-schema.js'

/**
 * Seconds kube-proxy and ingress-nginx may take to stop sending to a
 * Terminating pod (EndpointSlice propagation: usually 1-3 s, more in large
 * clusters): preStop + --shutdown-delay must cover it.
 */
const ENDPOINT_LAG_S = 10

interface Probe { httpGet: { path: string, port: string | number }, periodSeconds: number, failureThreshold: number, timeoutSeconds: number }
interface Container {
  name: string
  image: string
  ports: { name: string, containerPort: number }[]
  env: { name: string, value?: string, valueFrom?: { fieldRef?: { fieldPath: string } } }[]
  readinessProbe: Probe
  livenessProbe: Probe
  lifecycle: { preStop: { sleep?: { seconds: number } } }
}
interface Deployment {
  spec: {
    selector: { matchLabels: Record<string, string> }
    strategy: { rollingUpdate: { maxUnavailable: number, maxSurge: number } }
    template: {
      metadata: { labels: Record<string, string> }
      spec: { terminationGracePeriodSeconds: number, securityContext: { runAsUser: number, runAsGroup: number, runAsNonRoot: boolean }, containers: Container[] }
    }
  }
}

const manifests = readKubernetes()
const deployment = findManifest<Deployment>('Deployment')
const pod = deployment.spec.template
const container = pod.spec.containers[0] as Container
const invocation = gatewayInvocations().find((i) => i.source.startsWith('deploy/kubernetes/deployment.yaml'))

function port (name: string): number {
  const found = container.ports.find((p) => p.name === name)
  assert.ok(found !== undefined, `container port ${name}`)
  return found.containerPort
}

/** An option the Deployment sets, in seconds (the gateway takes milliseconds). */
function optionSeconds (flag: string): number {
  assert.ok(invocation !== undefined)
  const value = optionValue(invocation, flag)
  assert.ok(value !== undefined, `${flag} is set in the Deployment: the grace period depends on it`)
  return Number(value) / 1000
}

describe('deploy/kubernetes/', () => {
  test('the manifests are a Deployment, a Service, a PodDisruptionBudget and an Ingress', () => {
    assert.deepEqual(manifests.map((m) => m.manifest.kind), ['Deployment', 'Service', 'PodDisruptionBudget', 'Ingress'])
  })

  test('each is valid against its Kubernetes schema (kubernetes-models)', async () => {
    for (const { file, manifest } of manifests) assert.equal(await validateModel(manifest), undefined, file)
  })

  test('and has no field the API does not know (what kubectl apply refuses); a misspelled one is caught', () => {
    const misspelled = structuredClone(deployment) as unknown as Manifest & Deployment
    const spec = misspelled.spec.template.spec as Deployment['spec']['template']['spec'] & Record<string, unknown>
    spec.terminationGracePeriodSecond = spec.terminationGracePeriodSeconds
    const errors = strictFieldErrors([
      ...manifests.map(({ file, manifest }) => ({ name: file, manifest })),
      { name: 'misspelled copy', manifest: misspelled }
    ])
    assert.deepEqual(errors.filter((e) => !e.startsWith('misspelled copy:')), [])
    assert.ok(errors.some((e) => e.includes("'\"terminationGracePeriodSecond\"' does not exist")), errors.join('\n'))
  })

  test('the schema check is engaged: a wrong type is caught', async () => {
    const broken = structuredClone(deployment) as unknown as Manifest & Deployment
    ;(broken.spec.template.spec.containers[0]?.ports[0] as { containerPort: unknown }).containerPort = 'ws'
    assert.match(await validateModel(broken) ?? '', /containerPort must be integer/)
  })

  test('readiness is /readyz and liveness /healthz, on the admin port the gateway listens on', async () => {
    assert.ok(invocation !== undefined)
    const today = await todaysOptions(invocation)
    const config = await printConfig(today.args, today.env)
    assert.equal(config.adminHost, '0.0.0.0', 'reachable by the kubelet')
    assert.equal(port('admin'), config.adminPort)
    assert.equal(port('ws'), config.port)
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'admin' })
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'admin' })
  })

  test('terminationGracePeriodSeconds >= preStop + shutdown-delay + shutdown-period + close-timeout + margin', () => {
    const preStop = container.lifecycle.preStop.sleep?.seconds ?? 0
    const needed = preStop + optionSeconds('--shutdown-delay') + optionSeconds('--shutdown-period') +
      optionSeconds('--close-timeout') + STOP_MARGIN_S
    assert.ok(pod.spec.terminationGracePeriodSeconds >= needed, `${pod.spec.terminationGracePeriodSeconds} < ${needed}`)
  })

  test('the delay outlasts the readiness probe\'s detection, and preStop + delay the endpoint lag', () => {
    const { periodSeconds, failureThreshold, timeoutSeconds } = container.readinessProbe
    const delay = optionSeconds('--shutdown-delay')
    assert.ok(delay >= periodSeconds * failureThreshold + timeoutSeconds, `--shutdown-delay ${delay} s`)
    assert.ok((container.lifecycle.preStop.sleep?.seconds ?? 0) + delay >= ENDPOINT_LAG_S)
  })

  test('a rolling update starts a new pod before an old one drains, and the budget allows one down', () => {
    assert.deepEqual(deployment.spec.strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 })
    const pdb = findManifest<{ spec: { maxUnavailable: number, selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget')
    assert.equal(pdb.spec.maxUnavailable, 1)
  })

  test('the Service, the budget and the Deployment select the same pods; the Ingress reaches the ws port', () => {
    const labels = pod.metadata.labels
    const selects = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v)
    const service = findManifest<{ metadata: { name: string }, spec: { selector: Record<string, string>, ports: { name: string, targetPort: string }[] } }>('Service')
    const pdb = findManifest<{ spec: { selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget')
    assert.ok(selects(deployment.spec.selector.matchLabels) && selects(service.spec.selector) && selects(pdb.spec.selector.matchLabels))
    assert.deepEqual(service.spec.ports.map((p) => p.targetPort), ['ws'])
    const ingress = findManifest<{ spec: { rules: { http: { paths: { path: string, backend: { service: { name: string, port: { name: string } } } }[] } }[] } }>('Ingress')
    const path = ingress.spec.rules[0]?.http.paths[0]
    assert.deepEqual(path?.backend.service, { name: service.metadata.name, port: { name: 'ws' } })
    assert.equal(path?.path, '/mqtt')
  })

  test('ingress-nginx timeouts exceed 1.5 × the longest MQTT keep-alive', () => {
    const ingress = findManifest<{ metadata: { annotations: Record<string, string> } }>('Ingress')
    for (const name of ['proxy-read-timeout', 'proxy-send-timeout']) {
      const value = Number(ingress.metadata.annotations[`nginx.ingress.kubernetes.io/${name}`])
      assert.ok(value > 1.5 * LONGEST_KEEPALIVE_S, `${name}: ${value}`)
    }
  })

  test('the instance id is the pod\'s name (downward API)', () => {
    const variable = container.env.find((e) => e.name === 'MQTT_WS_GATEWAY_INSTANCE_ID')
    assert.deepEqual(variable?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } })
  })

  test('the pod runs the image of this version as the image\'s user', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    assert.equal(container.image, `mqtt-ws-gateway:${pkg.version}`)
    const [uid, gid] = readImage().user.split(':').map(Number)
    assert.deepEqual(pod.spec.securityContext.runAsNonRoot, true)
    assert.equal(pod.spec.securityContext.runAsUser, uid)
    assert.equal(pod.spec.securityContext.runAsGroup, gid)
  })
})
