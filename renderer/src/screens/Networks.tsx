/**
 * Networks: each network's driver, subnet, gateway, whether it is internal, and how many
 * containers are on it (from the containers' own endpoint lists, since the network list leaves
 * Containers empty); create, remove, and an inspect panel listing the connected containers.
 */
import { useState, type ReactNode } from 'react';
import type { NetworkInspect } from '../../../types/engine-api';
import { bridge, errorText } from '../bridge';
import { useIntent } from '../commands';
import { LastKnown } from '../components/EngineBanner';
import { Info, Plus, Trash2 } from '../icons';
import { parseKeyValues } from '../components/forms';
import { FormDialog, useSubmit } from '../components/FormDialog';
import { Button, Confirm, Empty, ErrorBanner, toast } from '../components/ui';
import { shortId } from '../format';
import { useCall } from '../state';

/** The networks every engine has and that cannot be removed. */
const PREDEFINED = new Set(['bridge', 'host', 'none']);

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$|^[0-9a-fA-F:]+\/\d{1,3}$/;
const IP = /^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+$/;

function CreateDialog(props: { onClose: () => void }): ReactNode {
  const [name, setName] = useState('');
  const [driver, setDriver] = useState('bridge');
  const [subnet, setSubnet] = useState('');
  const [gateway, setGateway] = useState('');
  const [internal, setInternal] = useState(false);
  const [labels, setLabels] = useState('');
  const [problems, setProblems] = useState<Record<string, string>>({});
  const submitting = useSubmit();

  const submit = (): void => {
    const p: Record<string, string> = {};
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name.trim())) p['net-name'] = 'A name of letters, digits, "_", "." or "-" is required.';
    if (subnet.trim() && !CIDR.test(subnet.trim())) p['net-subnet'] = 'A subnet is CIDR, e.g. 172.30.0.0/16.';
    if (gateway.trim() && !IP.test(gateway.trim())) p['net-gateway'] = 'A gateway is an address, e.g. 172.30.0.1.';
    if (gateway.trim() && !subnet.trim()) p['net-gateway'] = 'A gateway needs a subnet.';
    const parsed = parseKeyValues(labels);
    if ('problem' in parsed) p['net-labels'] = parsed.problem;
    setProblems(p);
    if (Object.keys(p).length > 0 || 'problem' in parsed) return;
    void submitting.run(async () => {
      await bridge().invoke('networks.create', {
        Name: name.trim(),
        Driver: driver,
        IPAM: { Driver: 'default', Options: {}, Config: subnet.trim() ? [{ Subnet: subnet.trim(), ...(gateway.trim() ? { Gateway: gateway.trim() } : {}) }] : [] },
        Internal: internal,
        Attachable: false,
        Ingress: false,
        ConfigOnly: false,
        ConfigFrom: null,
        Options: {},
        Labels: parsed.values,
      });
      toast(`Created network ${name.trim()}`);
      props.onClose();
    });
  };

  const field = (id: string): { 'aria-invalid'?: true; 'aria-describedby'?: string } => (problems[id] ? { 'aria-invalid': true, 'aria-describedby': `${id}-problem` } : {});
  const problem = (id: string): ReactNode =>
    problems[id] && (
      <span id={`${id}-problem`} className="field-error">
        {problems[id]}
      </span>
    );

  return (
    <FormDialog title="Create a network" onClose={props.onClose} onSubmit={submit} busy={submitting.busy} error={submitting.error} submitLabel="Create">
      <label className="field">
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" {...field('net-name')} />
      </label>
      {problem('net-name')}
      <label className="field">
        Driver
        <select value={driver} onChange={(e) => setDriver(e.target.value)}>
          <option value="bridge">bridge</option>
        </select>
      </label>
      <label className="field">
        Subnet (optional; the engine picks a free one)
        <input value={subnet} onChange={(e) => setSubnet(e.target.value)} placeholder="172.30.0.0/16" {...field('net-subnet')} />
      </label>
      {problem('net-subnet')}
      <label className="field">
        Gateway (optional)
        <input value={gateway} onChange={(e) => setGateway(e.target.value)} placeholder="172.30.0.1" {...field('net-gateway')} />
      </label>
      {problem('net-gateway')}
      <label className="check">
        <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.target.checked)} />
        Internal (no route outside the network)
      </label>
      <label className="field">
        Labels (one KEY=value per line)
        <textarea value={labels} onChange={(e) => setLabels(e.target.value)} rows={2} spellCheck={false} {...field('net-labels')} />
      </label>
      {problem('net-labels')}
    </FormDialog>
  );
}

function InspectPanel(props: { id: string; onClose: () => void }): ReactNode {
  const net = useCall('networks.inspect', { id: props.id }, ['network', 'container']);
  const n = net.data;
  const members = Object.entries(n?.Containers ?? {});
  return (
    <section className="panel" aria-labelledby="net-inspect-title">
      <div className="row">
        <h2 id="net-inspect-title">Network {n?.Name ?? shortId(props.id)}</h2>
        <span className="spacer" />
        <Button onClick={props.onClose} label="Close the network details">
          Close
        </Button>
      </div>
      <ErrorBanner error={net.error} onRetry={net.reload} />
      {n && (
        <>
          <p className="muted">
            ID <span className="mono">{shortId(n.Id)}</span> · driver {n.Driver} · scope {n.Scope}
            {n.Internal ? ' · internal' : ''}
            {n.EnableIPv6 ? ' · IPv6' : ''}
          </p>
          {members.length === 0 ? (
            <p>No containers are connected.</p>
          ) : (
            <table className="grid" aria-label={`Containers on ${n.Name}`}>
              <thead>
                <tr>
                  <th scope="col">Container</th>
                  <th scope="col">IPv4 address</th>
                  <th scope="col">MAC address</th>
                </tr>
              </thead>
              <tbody>
                {members.map(([id, c]) => (
                  <tr key={id}>
                    <td>
                      <a href={`#/containers/${id}`}>{c.Name || shortId(id)}</a>
                    </td>
                    <td className="mono">{c.IPv4Address}</td>
                    <td className="mono">{c.MacAddress}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

export function Networks(): ReactNode {
  const networks = useCall('networks.list', {}, ['network']);
  const containers = useCall('containers.list', { all: true }, ['container', 'network']);
  const [creating, setCreating] = useState(false);
  const [removing, setRemoving] = useState<NetworkInspect>();
  const [selected, setSelected] = useState<string | undefined>(() => new URLSearchParams(location.hash.split('?')[1] ?? '').get('inspect') ?? undefined);
  const [failure, setFailure] = useState<string>();

  useIntent('networks:create', () => setCreating(true));

  const count = (n: NetworkInspect): number => (containers.data ?? []).filter((c) => n.Name in (c.NetworkSettings?.Networks ?? {})).length;

  const remove = async (n: NetworkInspect): Promise<void> => {
    setRemoving(undefined);
    try {
      await bridge().invoke('networks.remove', { id: n.Id });
      setFailure(undefined);
      if (selected === n.Id) setSelected(undefined);
      toast(`Removed network ${n.Name}`);
    } catch (err) {
      setFailure(`Could not remove ${n.Name}: ${errorText(err)}`);
    }
  };

  const list = [...(networks.data ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));
  return (
    <section aria-labelledby="networks-title" className="screen">
      <div className="row screen-head">
        <h1 id="networks-title" tabIndex={-1}>
          Networks
        </h1>
        <LastKnown />
        <span className="spacer" />
        <Button kind="primary" icon={Plus} engine onClick={() => setCreating(true)}>
          Create a network
        </Button>
      </div>
      <ErrorBanner error={networks.error} onRetry={networks.reload} />
      <ErrorBanner error={failure} />
      {networks.data && list.length === 0 ? (
        <Empty title="No networks" />
      ) : (
        <div className="table-scroll">
        <table className="grid" aria-label="Networks">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Driver</th>
              <th scope="col">Subnet</th>
              <th scope="col">Gateway</th>
              <th scope="col">Internal</th>
              <th scope="col">Containers</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((n) => {
              const pool = n.IPAM.Config?.[0];
              return (
                <tr key={n.Id} className={selected === n.Id ? 'selected' : undefined}>
                  <td>{n.Name}</td>
                  <td>{n.Driver}</td>
                  <td className="mono">{pool?.Subnet ?? '—'}</td>
                  <td className="mono">{pool?.Gateway ?? '—'}</td>
                  <td>{n.Internal ? 'yes' : 'no'}</td>
                  <td>{count(n)}</td>
                  <td>
                    <span className="row actions actions-compact">
                      <Button icon={Info} iconOnly onClick={() => setSelected(n.Id)} label={`Inspect network ${n.Name}`} />
                      {!PREDEFINED.has(n.Name) && <Button kind="ghost" icon={Trash2} iconOnly engine onClick={() => setRemoving(n)} label={`Remove network ${n.Name}`} />}
                    </span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        </div>
      )}
      {selected && <InspectPanel id={selected} onClose={() => setSelected(undefined)} />}
      {creating && <CreateDialog onClose={() => setCreating(false)} />}
      {removing && (
        <Confirm
          title={`Remove network ${removing.Name}?`}
          message="Containers still connected to it make the engine refuse."
          confirm="Remove"
          danger
          onConfirm={() => void remove(removing)}
          onCancel={() => setRemoving(undefined)}
        />
      )}
    </section>
  );
}
