// Service annotation keys and values of PureLB v1 (the contract), plus our additions.
export const ANN = {
  serviceGroup: 'purelb.io/service-group',
  addresses: 'purelb.io/addresses',
  allowSharedIP: 'purelb.io/allow-shared-ip',
  allowLocal: 'purelb.io/allow-local',
  allocatedBy: 'purelb.io/allocated-by',
  allocatedFrom: 'purelb.io/allocated-from',
  announcingIPv4: 'purelb.io/announcing-IPv4',
  announcingIPv6: 'purelb.io/announcing-IPv6',
} as const;

/** Value of purelb.io/allocated-by that marks a Service as ours. */
export const BRAND = 'PureLB';
export const DEFAULT_LB_CLASS = 'purelb.io/purelb';
export const DEFAULT_NAMESPACE = 'purelb';
export const DEFAULT_GROUP_NAME = 'default';
