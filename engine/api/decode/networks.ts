/**
 * Schemas of the network and volume request bodies: network create, connect and disconnect
 * (moby's api/types/network), volume create (api/types/volume).
 */
import type { IpamPool, NetworkConnectBody, NetworkCreateRequest, NetworkDisconnectBody, VolumeCreateBody } from '../../../types/engine-api.js';
import { bool, list, string, stringMap, struct } from './codec.js';
import { endpointSettings } from './containers.js';

type Ipam = NonNullable<NetworkCreateRequest['IPAM']>;

const ipamConfig = struct<IpamPool>(
  'network.IPAMConfig',
  { Subnet: string, IPRange: string, Gateway: string, AuxiliaryAddresses: stringMap },
  {},
  { zero: true },
);

/** POST /networks/create. */
export const networkCreateRequest = struct<NetworkCreateRequest>('network.CreateRequest', {
  Name: string,
  CheckDuplicate: bool,
  Driver: string,
  Scope: string,
  EnableIPv4: bool,
  EnableIPv6: bool,
  IPAM: struct<Ipam>('network.IPAM', { Driver: string, Options: stringMap, Config: list(ipamConfig) }, {}),
  Internal: bool,
  Attachable: bool,
  Ingress: bool,
  ConfigOnly: bool,
  ConfigFrom: struct<{ Network: string }>('network.ConfigReference', { Network: string }, { Network: '' }),
  Options: stringMap,
  Labels: stringMap,
}, { Name: '' });

/** POST /networks/{id}/connect. */
export const networkConnectRequest = struct<NetworkConnectBody>('network.ConnectOptions', {
  Container: string,
  EndpointConfig: endpointSettings,
}, { Container: '' });

/** POST /networks/{id}/disconnect. */
export const networkDisconnectRequest = struct<NetworkDisconnectBody>('network.DisconnectOptions', {
  Container: string,
  Force: bool,
}, { Container: '' });

/** POST /volumes/create. */
export const volumeCreateRequest = struct<VolumeCreateBody>('volume.CreateOptions', {
  Name: string,
  Driver: string,
  DriverOpts: stringMap,
  Labels: stringMap,
}, {});
