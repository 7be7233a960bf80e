/**
 * Requests decoded in one place: bodies into the wire types of types/engine-api.ts (codec.ts
 * and the schemas beside it), query parameters the way dockerd reads them (query.ts). Routes
 * call these before anything else, so a malformed request is a 400 that changed nothing.
 */
export { bool, DecodeError, decodeDocument, int, int64, list, map, nullableString, string, stringMap, strSlice, struct, type Codec, type NoNull } from './codec.js';
export { decodeBody, decodeBodyText, parseJsonText } from './body.js';
export { parseFiltersJson, queryBool, queryContainerPath, queryEnum, queryFilters, queryInt, queryJson, queryString, queryTime } from './query.js';
export { commitConfig, containerConfig, createRequest, execCreateRequest, execStartRequest, updateRequest } from './containers.js';
export { networkConnectRequest, networkCreateRequest, networkDisconnectRequest, volumeCreateRequest } from './networks.js';
export { authConfig } from './system.js';
