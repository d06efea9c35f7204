export * from './DeviceApi';
export * from './DiscoveryApi';
export * from './ResourceApi';
