/** Public API: the gateway factory, its options and its error codes. */
export { createGateway } from './gateway.js'
export type { Gateway, GatewayAddress, GatewayStats, CreateGatewayOptions, CloseOptions } from './gateway.js'
export { defaultOptions, resolveOptions } from './options.js'
export type { GatewayOptions, ResolvedOptions, LogLevel } from './options.js'
export { GatewayError, InvalidOptionError, CloseCode, errorCodes, upgradeRejections, closeReasons } from './errors.js'
export type { CloseReason, CloseInitiator, ErrorCode, UpgradeRejection } from './errors.js'
