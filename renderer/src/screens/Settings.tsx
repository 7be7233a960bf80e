/**
 * Settings: the engines the app knows (add one by name and host — ssh:// ones with an optional
 * identity file, showing the host key pinned on the way —, remove the added ones, use one and see
 * its status), the Berth VM (VmPanel), and the theme (light, dark or the system's).
 */
import { useRef, useState, type ReactNode } from 'react';
import { useIntent } from '../commands';
import type { EngineEndpoint, EngineStatus, EngineTls, HostKeyReport, Theme } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { useSubmit } from '../components/FormDialog';
import { Badge, Button, Confirm, ErrorBanner, toast, useAction } from '../components/ui';
import { engineStatus, useCall, useEngineStatus } from '../state';
import { applyTheme } from '../theme';
import { VmPanel } from './VmPanel';

const HOST = /^(unix:\/\/\/.+|tcp:\/\/[^/\s]+:\d+|ssh:\/\/[^/\s]+(\/\S*)?)$/;

/** The engines the host always lists (this computer's and the VM's): they cannot be removed. */
const builtin = (e: EngineEndpoint): boolean => e.kind === 'local' || e.kind === 'vm';

function StatusText(props: { status: EngineStatus | undefined }): ReactNode {
  const s = props.status;
  if (!s) return <span className="muted">checking…</span>;
  if (s.state === 'running')
    return (
      <span>
        <Badge tone="ok">running</Badge> version {s.version}, API {s.apiVersion}, {s.os}, {s.latencyMs.toFixed(1)} ms
      </span>
    );
  if (s.state === 'starting') return <Badge tone="warn">starting</Badge>;
  return (
    <span>
      <Badge tone="bad">unreachable</Badge> {s.reason}. {s.fix}
    </span>
  );
}

const TLS_LABELS = { ca: 'TLS CA', cert: 'TLS certificate', key: 'TLS key' } as const;

/** The engine's TLS files as typed (empty fields left out); the engine's certificate is always verified. */
function tlsOf(files: { ca: string; cert: string; key: string }): EngineTls {
  const tls: EngineTls = { verify: true };
  for (const k of ['ca', 'cert', 'key'] as const) if (files[k].trim()) tls[k] = files[k].trim();
  return tls;
}

function AddEngine(props: { onAdded: () => void }): ReactNode {
  const nameInput = useRef<HTMLInputElement>(null);
  useIntent('settings:add-engine', () => nameInput.current?.focus());
  const [name, setName] = useState('');
  const [host, setHost] = useState('');
  const [identity, setIdentity] = useState('');
  // tcp:// engines over TLS: the CA, and the client certificate and key an engine with --tlsverify wants.
  const [tlsFiles, setTlsFiles] = useState({ ca: '', cert: '', key: '' });
  const submitting = useSubmit();
  const problem = submitting.error;
  const [added, setAdded] = useState<EngineEndpoint>();
  // A host key that differs from the trusted one: replacing it is the user's explicit choice.
  const [changedKey, setChangedKey] = useState<HostKeyReport>();
  const ssh = host.trim().startsWith('ssh://');
  const tcp = host.trim().startsWith('tcp://');
  const tls = tcp && (tlsFiles.ca.trim() || tlsFiles.cert.trim() || tlsFiles.key.trim()) ? tlsOf(tlsFiles) : undefined;
  const submit = (replaceHostKey?: string): void => {
    if (!name.trim()) return submitting.setError('Give the engine a name.');
    if (!HOST.test(host.trim())) return submitting.setError('The host is unix:///path.sock, tcp://host:port or ssh://user@host.');
    void submitting.run(async () => {
      setAdded(undefined);
      setChangedKey(undefined);
      const e = await bridge()
        .invoke('engine.add', {
          name: name.trim(),
          host: host.trim(),
          ...(ssh && identity.trim() ? { identityFile: identity.trim() } : {}),
          ...(replaceHostKey ? { replaceHostKey } : {}),
          ...(tls ? { tls } : {}),
        })
        .catch(async (err: unknown) => {
          // A changed host key: offer to replace it, showing both keys.
          if (ssh && (err as { status?: number }).status === 409) {
            const report = await bridge().invoke('engine.hostKey', { host: host.trim() }).catch(() => undefined);
            if (report?.verdict === 'mismatch') setChangedKey(report);
          }
          throw err;
        });
      toast(`Added engine ${e.name}`);
      setName('');
      setHost('');
      setIdentity('');
      setTlsFiles({ ca: '', cert: '', key: '' });
      if (e.kind === 'ssh') setAdded(e);
      props.onAdded();
    });
  };
  return (
    <form
      aria-label="Add an engine"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <h3>Add an engine</h3>
      <div className="row">
        <label>
          Engine name <input ref={nameInput} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </label>
        <label>
          Engine host{' '}
          <input
            value={host}
            onChange={(e) => setHost(e.target.value)}
            placeholder="unix:///run/berth/docker.sock"
            size={34}
            aria-invalid={problem ? true : undefined}
            aria-describedby={problem ? 'engine-problem engine-host-help' : 'engine-host-help'}
          />
        </label>
        {ssh && (
          <label>
            Identity file <input value={identity} onChange={(e) => setIdentity(e.target.value)} placeholder="~/.ssh/id_ed25519 (optional)" size={26} autoComplete="off" />
          </label>
        )}
        {tcp &&
          (['ca', 'cert', 'key'] as const).map((k) => (
            <label key={k}>
              {TLS_LABELS[k]}{' '}
              <input value={tlsFiles[k]} onChange={(e) => setTlsFiles({ ...tlsFiles, [k]: e.target.value })} placeholder={`~/.docker/${k}.pem (TLS)`} size={22} autoComplete="off" />
            </label>
          ))}
        <Button type="submit" kind="primary" disabled={submitting.busy}>
          Add engine
        </Button>
      </div>
      <p id="engine-host-help" className="muted">
        A remote engine over SSH is ssh://user@host, with :port and /path/to/docker.sock when they are not the usual ones. Berth connects once to check it and pins the
        server's host key. Without an identity file it uses the SSH agent, Berth's key or ~/.ssh/id_*. A tcp:// engine served with TLS needs its CA and, when it
        verifies clients, your certificate and key.
      </p>
      {problem && (
        <p id="engine-problem" className="field-error" role="alert">
          {problem}
        </p>
      )}
      {changedKey && (
        <Confirm
          title="The host key changed"
          danger
          confirm="Replace the pinned key"
          message={
            <>
              {changedKey.name} now presents <code>{changedKey.presented}</code>, but{' '}
              {changedKey.trusted.map((k, i) => (
                <span key={k}>
                  {i > 0 && ', '}
                  <code>{k}</code>
                </span>
              ))}{' '}
              is trusted for it. Replace the pinned key only if you know why it changed (the host was reinstalled); otherwise someone may be intercepting the
              connection.
            </>
          }
          onCancel={() => setChangedKey(undefined)}
          onConfirm={() => submit(changedKey.presented)}
        />
      )}
      {added && (
        <p role="status">
          Added {added.name}.{' '}
          {added.hostKey ? (
            <>
              Pinned host key: <code>{added.hostKey}</code>
            </>
          ) : (
            'Its host key was already trusted (~/.ssh/known_hosts).'
          )}
        </p>
      )}
    </form>
  );
}

function Engines(): ReactNode {
  const engines = useCall('engine.list', {}, []);
  const status = useEngineStatus();
  const [removing, setRemoving] = useState<EngineEndpoint>();
  const [busy, run] = useAction();
  const active = engines.data?.active;
  const activeEngine = engines.data?.engines.find((e) => e.id === active);
  return (
    <>
      <section className="panel" aria-labelledby="engines-title">
        <h2 id="engines-title">Engines</h2>
        <ErrorBanner error={engines.error} onRetry={engines.reload} />
        <p>
          Active: <strong>{activeEngine?.name ?? '—'}</strong> · <StatusText status={status} />
        </p>
        <table className="grid" aria-label="Engines">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Kind</th>
              <th scope="col">Host</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {(engines.data?.engines ?? []).map((e) => (
              <tr key={e.id}>
                <td>
                  {e.name} {e.id === active && <Badge tone="ok">in use</Badge>}
                </td>
                <td>{e.kind}</td>
                <td className="mono">
                  {e.host}
                  {e.hostKey && <div className="muted">host key {e.hostKey}</div>}
                </td>
                <td className="row">
                  <Button
                    disabled={busy || e.id === active}
                    label={`Use engine ${e.name}`}
                    onClick={() =>
                      void run('Switching the engine', async () => {
                        engineStatus.set(await bridge().invoke('engine.use', { id: e.id }));
                        engines.reload();
                      })
                    }
                  >
                    Use
                  </Button>
                  {!builtin(e) && (
                    <Button kind="danger" disabled={e.id === active} label={`Remove engine ${e.name}`} onClick={() => setRemoving(e)}>
                      Remove
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <AddEngine onAdded={engines.reload} />
      </section>
      <VmPanel />
      {removing && (
        <Confirm
          title={`Remove engine ${removing.name}?`}
          message={`Berth Desktop forgets ${removing.host}. The engine itself and its containers are not touched.`}
          confirm="Remove"
          danger
          onCancel={() => setRemoving(undefined)}
          onConfirm={() => {
            const e = removing;
            setRemoving(undefined);
            void run('Removing the engine', async () => {
              await bridge().invoke('engine.remove', { id: e.id });
              engines.reload();
            });
          }}
        />
      )}
    </>
  );
}

function ThemeChoice(): ReactNode {
  const settings = useCall('settings.get', {}, []);
  const [chosen, setChosen] = useState<Theme>();
  const theme = chosen ?? settings.data?.theme ?? 'system';
  const pick = (t: Theme): void => {
    setChosen(t);
    applyTheme(t);
    bridge()
      .invoke('settings.set', { theme: t })
      .catch((err: unknown) => toast(`Saving the theme failed: ${errorText(err)}`, 'bad'));
  };
  return (
    <section className="panel" aria-labelledby="theme-title">
      <h2 id="theme-title">Appearance</h2>
      <div role="radiogroup" aria-labelledby="theme-title" className="row">
        {(['light', 'dark', 'system'] as const).map((t) => (
          <label key={t} className="check">
            <input type="radio" name="theme" value={t} checked={theme === t} onChange={() => pick(t)} />
            {t === 'system' ? 'System' : t === 'light' ? 'Light' : 'Dark'}
          </label>
        ))}
      </div>
    </section>
  );
}

export function Settings(): ReactNode {
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <Engines />
      <ThemeChoice />
    </section>
  );
}
