// The request decoder (engine/api/decode): bodies into the wire types with Go's leniency and
// dockerd's words for every mismatch; query parameters as dockerd reads them. No daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../engine/common/errors.js';
import {
  commitConfig,
  createRequest,
  decodeBodyText,
  execCreateRequest,
  networkConnectRequest,
  networkCreateRequest,
  queryBool,
  queryFilters,
  queryInt,
  queryJson,
  queryTime,
  updateRequest,
  volumeCreateRequest,
} from '../engine/api/decode/index.js';
import { int64, list, map, nullableString, string, struct } from '../engine/api/decode/codec.js';

/** Asserts a 400 with exactly this message. */
function refused(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), `not a BerthError: ${String(err)}`);
    assert.equal(err.kind, 'invalid');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

const create = (body: unknown): ReturnType<typeof createRequest.decode> => decodeBodyText(JSON.stringify(body), createRequest);

test('the issue\'s create bodies are 400s in dockerd\'s words, naming the field', () => {
  refused(() => create({ Image: 'x', Labels: { a: true } }), 'invalid JSON: json: cannot unmarshal bool into Go struct field CreateRequest.Labels of type string');
  refused(() => create({ Image: 'x', Env: {} }), 'invalid JSON: json: cannot unmarshal object into Go struct field CreateRequest.Env of type []string');
  // StrSlice tries a list of strings, then one string, and reports the second failure (as dockerd does).
  refused(() => create({ Image: 'x', Cmd: [1, 2] }), 'invalid JSON: json: cannot unmarshal array into Go struct field CreateRequest.Cmd of type string');
  refused(() => create({ Image: 'x', HostConfig: { Memory: '1g' } }), 'invalid JSON: json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Memory of type int64');
  refused(() => create({ Image: 'x', HostConfig: { Memory: 1.5 } }), 'invalid JSON: json: cannot unmarshal number 1.5 into Go struct field HostConfig.HostConfig.Memory of type int64');
  refused(() => create({ Image: 'x', HostConfig: { BlkioWeight: 70000 } }), /Go struct field HostConfig\.HostConfig\.BlkioWeight of type uint16/);
  refused(() => create({ Image: 'x', HostConfig: 'bridge' }), 'invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.HostConfig of type container.HostConfig');
  refused(
    () => create({ Image: 'x', NetworkingConfig: { EndpointsConfig: { n: { Aliases: 'a' } } } }),
    'invalid JSON: json: cannot unmarshal string into Go struct field EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases of type []string',
  );
  refused(
    () => create({ Image: 'x', HostConfig: { Mounts: [{ Type: 'volume', Target: '/d', VolumeOptions: { Subpath: 3 } }] } }),
    'invalid JSON: json: cannot unmarshal number into Go struct field VolumeOptions.HostConfig.Mounts.VolumeOptions.Subpath of type string',
  );
  refused(() => create({ Image: 'x', HostConfig: { PortBindings: { '80/tcp': [{ HostPort: 8080 }] } } }), /Go struct field PortBinding\.HostConfig\.PortBindings\.HostPort of type string/);
  refused(() => decodeBodyText('[1]', createRequest), 'invalid JSON: json: cannot unmarshal array into Go value of type container.CreateRequest');
});

test('Go\'s leniency: StrSlice strings, nulls, case-insensitive keys, unknown keys dropped, zero values filled', () => {
  const v = create({
    image: 'busybox',
    Cmd: 'echo hi',
    Entrypoint: null,
    Env: ['A=1', null],
    Labels: null,
    Bogus: { anything: [1] },
    HostConfig: { memory: 1 << 24, CapAdd: 'NET_ADMIN', Ulimits: [{ Name: 'nofile' }], Init: null, Mounts: [null] },
  });
  assert.equal(v.Image, 'busybox');
  assert.deepEqual(v.Cmd, ['echo hi']);
  assert.equal('Entrypoint' in v, false);
  assert.deepEqual(v.Env, ['A=1', '']);
  assert.equal('Labels' in v, false);
  assert.equal('Bogus' in v, false);
  assert.equal(v.HostConfig?.Memory, 1 << 24);
  assert.deepEqual(v.HostConfig?.CapAdd, ['NET_ADMIN']);
  assert.deepEqual(v.HostConfig?.Ulimits, [{ Name: 'nofile', Hard: 0, Soft: 0 }]);
  assert.equal('Init' in (v.HostConfig ?? {}), false);
  assert.deepEqual(v.HostConfig?.Mounts, [{ Type: '', Target: '' }]);
  // A label called __proto__ is a label, not the object's prototype.
  const p = decodeBodyText('{"Image":"x","Labels":{"__proto__":"v","a":"b"}}', createRequest);
  assert.deepEqual(Object.keys(p.Labels ?? {}), ['__proto__', 'a']);
  assert.equal(Object.getPrototypeOf(p.Labels), Object.prototype);
  assert.equal(JSON.stringify(p.Labels), '{"__proto__":"v","a":"b"}');
});

test('bodies: EOF, trailing content, syntax errors; optional bodies may be empty or null', () => {
  refused(() => decodeBodyText('', createRequest), 'invalid JSON: got EOF while reading request body');
  refused(() => decodeBodyText('{"Image":"x"} {}', createRequest), 'unexpected content after JSON');
  refused(() => decodeBodyText('{"Image":', createRequest), /^invalid JSON: /);
  assert.deepEqual(decodeBodyText('', updateRequest, { empty: () => ({}) }), {});
  assert.deepEqual(decodeBodyText('null', volumeCreateRequest, { empty: () => ({}) }), {});
  assert.equal(decodeBodyText('', commitConfig, { empty: () => undefined }), undefined);
});

test('the other bodies: update, exec, networks, volumes, commit', () => {
  refused(() => decodeBodyText('{"Memory":"x"}', updateRequest), 'invalid JSON: json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64');
  assert.deepEqual(decodeBodyText('{"RestartPolicy":{"Name":"always"}}', updateRequest), { RestartPolicy: { Name: 'always' } });
  // Exec's Cmd is a plain []string in Docker: no single-string form.
  refused(() => decodeBodyText('{"Cmd":"ls"}', execCreateRequest), 'invalid JSON: json: cannot unmarshal string into Go struct field ExecOptions.Cmd of type []string');
  refused(() => decodeBodyText('{"Name":"n","Labels":{"a":1}}', networkCreateRequest), 'invalid JSON: json: cannot unmarshal number into Go struct field CreateRequest.Labels of type string');
  assert.deepEqual(decodeBodyText('{"Name":"n","IPAM":{"Config":[{"Subnet":"10.9.0.0/24"}]}}', networkCreateRequest), { Name: 'n', IPAM: { Config: [{ Subnet: '10.9.0.0/24' }] } });
  assert.deepEqual(decodeBodyText('{}', networkConnectRequest), { Container: '' });
  refused(() => decodeBodyText('{"Container":"c","EndpointConfig":{"DriverOpts":{"k":false}}}', networkConnectRequest), /Go struct field EndpointSettings\.EndpointConfig\.DriverOpts of type string/);
  refused(() => decodeBodyText('{"DriverOpts":[]}', volumeCreateRequest), 'invalid JSON: json: cannot unmarshal array into Go struct field CreateOptions.DriverOpts of type map[string]string');
  refused(() => decodeBodyText('{"Env":"A=1"}', commitConfig), 'invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Env of type []string');
});

test('codecs compose: a struct of lists of structs reports the innermost struct and the whole path', () => {
  const inner = struct<{ N: number }>('pkg.Inner', { N: int64 }, { N: 0 });
  const outer = struct<{ Items?: { N: number }[]; Name?: string }>('pkg.Outer', { Items: list(inner), Name: string }, {});
  assert.deepEqual(outer.decode({ Items: [{ N: 1 }, { n: 2 }] }, { struct: '', fields: [] }), { Items: [{ N: 1 }, { N: 2 }] });
  assert.throws(() => outer.decode({ Items: [{ N: true }] }, { struct: '', fields: [] }), /Go struct field Inner\.Items\.N of type int64/);
});

test('query parameters: Docker\'s booleans, integers with strconv\'s words, times, filters in both forms', () => {
  const q = (s: string): URLSearchParams => new URLSearchParams(s);
  for (const v of ['1', 'true', 'True', 'yes', 'anything']) assert.equal(queryBool(q(`a=${v}`), 'a'), true, v);
  for (const v of ['', '0', 'false', 'FALSE', 'no', 'none', ' 0 ']) assert.equal(queryBool(q(`a=${encodeURIComponent(v)}`), 'a'), false, v);
  assert.equal(queryBool(q(''), 'a', true), true);
  assert.equal(queryInt(q('t=5'), 't'), 5);
  assert.equal(queryInt(q('t='), 't'), undefined);
  refused(() => queryInt(q('t=abc'), 't'), 'strconv.Atoi: parsing "abc": invalid syntax');
  refused(() => queryInt(q('t=1.5'), 't'), 'strconv.Atoi: parsing "1.5": invalid syntax');
  refused(() => queryInt(q('t=99999999999999999999'), 't'), 'strconv.Atoi: parsing "99999999999999999999": value out of range');
  refused(() => queryInt(q('h=70000'), 'h', { max: 0xffff }), 'invalid value for h: 70000');
  assert.equal(queryTime(q('since=1700000000.5'), 'since'), 1700000000.5);
  assert.equal(queryTime(q('since=2024-01-02T03:04:05Z'), 'since'), Date.parse('2024-01-02T03:04:05Z') / 1000);
  refused(() => queryTime(q('since=yesterday'), 'since'), 'invalid value for since: yesterday');
  const f = (json: string): Record<string, string[]> => queryFilters(q(`filters=${encodeURIComponent(json)}`), ['label', 'status']);
  assert.deepEqual(f('{"label":{"a=1":true},"status":["exited"]}'.replace('"status":["exited"]', '"status":{"exited":true}')), { label: ['a=1'], status: ['exited'] });
  assert.deepEqual(f('{"label":["a=1","b"]}'), { label: ['a=1', 'b'] });
  refused(() => f('{"label":"a"}'), 'invalid filter');
  refused(() => f('not json'), 'invalid filter');
  refused(() => f('{"label":{"a":true},"status":["x"]}'), 'invalid filter');
  refused(() => f('{"color":["red"]}'), "invalid filter 'color'");
  // JSON-valued parameters (the build's buildargs): a null value is kept, as in map[string]*string.
  const args = map(nullableString);
  assert.deepEqual(queryJson(q('buildargs=' + encodeURIComponent('{"A":"1","B":null}')), 'buildargs', args), { A: '1', B: null });
  assert.equal(queryJson(q(''), 'buildargs', args), undefined);
  refused(() => queryJson(q('buildargs=nope'), 'buildargs', args), 'invalid buildargs: not JSON: nope');
  refused(() => queryJson(q('buildargs=' + encodeURIComponent('{"A":1}')), 'buildargs', args), 'json: cannot unmarshal number into Go value of type string');
});
