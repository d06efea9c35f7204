export * from './AdminApi';
export * from './DeviceApi';
export * from './DiscoveryApi';
export * from './OperationsApi';
export * from './ResourceApi';
export * from './TokensApi';
