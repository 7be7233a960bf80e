/** Schemas of the system request bodies: POST /auth (moby's api/types/registry.AuthConfig). */
import type { AuthConfig } from '../../../types/engine-api.js';
import { string, struct } from './codec.js';

export const authConfig = struct<AuthConfig>('registry.AuthConfig', {
  username: string,
  password: string,
  auth: string,
  email: string,
  serveraddress: string,
  identitytoken: string,
  registrytoken: string,
}, {});
