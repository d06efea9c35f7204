/**
 * oauth2-devices/client: the device side of the flow for firmware, CLI and app teams. Built on
 * the SDK generated from openapi.yaml (re-exported as `generated`), with the polling rules,
 * refresh and an authorized fetch added by hand. No Node-only imports.
 */
export * from './clock';
export * from './device-client';
export * from './errors';
export * as generated from '../../generated';
