/**
 * The name of one gateway in a fleet (--instance-id): on every log line and
 * as the `instance` label of every metric, so that lines and series from
 * many gateways, gathered in one place, say which gateway wrote them.
 *
 * Default: the host name and the process id. In Kubernetes the host name is
 * the pod's name (deploy/kubernetes/deployment.yaml also passes it in
 * MQTT_WS_GATEWAY_INSTANCE_ID); with --workers the primary's pid names the
 * whole group, and each line also carries its worker's pid.
 */
import { hostname } from 'node:os'

export function instanceId (configured: string | undefined): string {
  return configured ?? `${hostname()}-${process.pid}`
}
