/**
 * Files through the archive API — a container's (containers.listDir/readFile/writeFile) or a
 * volume's (volumes.listDir/readFile, through a helper container): directories listed with
 * breadcrumbs and "up" to move, a file downloaded as a Blob, and (for containers) a local file
 * uploaded into the current directory.
 */
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { FileEntry } from '../../../types/desktop-api';
import { bridge, errorText } from '../bridge';
import { formatBytes } from '../format';
import { ArrowUp, Download, File, FileSymlink, Folder, Upload } from '../icons';
import { Button, ErrorBanner, useAction } from './ui';

/** Whose files: a container's (by id) or a volume's (by name). */
export type FilesSource = { kind: 'container'; id: string } | { kind: 'volume'; name: string };

function listOf(src: FilesSource, path: string): Promise<FileEntry[]> {
  return src.kind === 'container' ? bridge().invoke('containers.listDir', { id: src.id, path }) : bridge().invoke('volumes.listDir', { name: src.name, path });
}

function readOf(src: FilesSource, path: string): Promise<{ name: string; base64: string; size: number }> {
  return src.kind === 'container' ? bridge().invoke('containers.readFile', { id: src.id, path }) : bridge().invoke('volumes.readFile', { name: src.name, path });
}

/** A directory's entries, re-read when the path changes or on reload. */
function useListing(src: FilesSource, dir: string): { data: FileEntry[] | undefined; error: string | undefined; reload(): void } {
  const [data, setData] = useState<FileEntry[]>();
  const [error, setError] = useState<string>();
  const [n, setN] = useState(0);
  const key = src.kind === 'container' ? src.id : src.name;
  useEffect(() => {
    let live = true;
    listOf(src, dir).then(
      (v) => {
        if (!live) return;
        setData(v);
        setError(undefined);
      },
      (e: unknown) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [key, dir, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function parent(dir: string): string {
  const i = dir.lastIndexOf('/');
  return i <= 0 ? '/' : dir.slice(0, i);
}

function modeText(e: FileEntry): string {
  const kind = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-';
  const bits = 'rwxrwxrwx'.split('').map((c, i) => (e.mode & (1 << (8 - i)) ? c : '-'));
  return kind + bits.join('');
}

function fromBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** Opens at `?path=` of the route when given (the Volumes screen links to a mount point that way). */
function startDir(): string {
  const p = new URLSearchParams(location.hash.split('?')[1] ?? '').get('path');
  return p && p.startsWith('/') ? p : '/';
}

export function FileBrowser(props: { id?: string; source?: FilesSource }): ReactNode {
  const src: FilesSource = props.source ?? { kind: 'container', id: props.id ?? '' };
  const [dir, setDir] = useState(src.kind === 'container' ? startDir : '/');
  const list = useListing(src, dir);
  const [busy, run] = useAction();
  const upload = useRef<HTMLInputElement>(null);
  const entries = [...(list.data ?? [])].sort((a, b) => (a.type === 'dir') === (b.type === 'dir') ? a.name.localeCompare(b.name) : a.type === 'dir' ? -1 : 1);
  const crumbs = dir.split('/').filter(Boolean);

  const download = (e: FileEntry): Promise<void> =>
    run(`Downloading ${e.name}`, async () => {
      const f = await readOf(src, join(dir, e.name));
      const url = URL.createObjectURL(new Blob([fromBase64(f.base64)], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = f.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 0);
    });

  const onUpload = async (files: FileList | null): Promise<void> => {
    const file = files?.[0];
    if (!file || src.kind !== 'container') return;
    await run(
      `Uploading ${file.name}`,
      async () => {
        const base64 = toBase64(new Uint8Array(await file.arrayBuffer()));
        await bridge().invoke('containers.writeFile', { id: src.id, dir, name: file.name, base64 });
        list.reload();
      },
      `Uploaded ${file.name} to ${dir}`,
    );
    if (upload.current) upload.current.value = '';
  };

  return (
    <div className="files">
      <div className="row toolbar">
        <Button label="Up one directory" icon={ArrowUp} onClick={() => setDir(parent(dir))} disabled={dir === '/'}>
          Up
        </Button>
        <nav aria-label="Breadcrumb" className="breadcrumbs">
          <button type="button" className="link" onClick={() => setDir('/')} aria-current={dir === '/' ? 'location' : undefined}>
            /
          </button>
          {crumbs.map((c, i) => {
            const path = '/' + crumbs.slice(0, i + 1).join('/');
            return (
              <span key={path}>
                <button type="button" className="link" onClick={() => setDir(path)} aria-current={path === dir ? 'location' : undefined}>
                  {c}
                </button>
                {i < crumbs.length - 1 && '/'}
              </span>
            );
          })}
        </nav>
        <span className="spacer" />
        {src.kind === 'container' && (
          <label className="btn">
            <Upload size={16} aria-hidden="true" className="btn-glyph" />
            Upload a file…
            <input ref={upload} type="file" className="visually-hidden" aria-label={`Upload a file to ${dir}`} disabled={busy} onChange={(e) => void onUpload(e.target.files)} />
          </label>
        )}
      </div>
      <ErrorBanner error={list.error} onRetry={list.reload} />
      <table className="grid" aria-label={`Files in ${dir}`}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Size</th>
            <th scope="col">Mode</th>
            <th scope="col">Modified</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {entries.map((e) => (
            <tr key={e.name}>
              <td>
                {e.type === 'dir' || e.type === 'symlink' ? (
                  <button type="button" className="link file-name" onClick={() => setDir(join(dir, e.name))} aria-label={`Open ${e.name}`}>
                    {e.type === 'dir' ? <Folder size={16} aria-hidden="true" className="file-icon dir" /> : <FileSymlink size={16} aria-hidden="true" className="file-icon" />}
                    {e.name}
                    {e.type === 'dir' ? '/' : ''}
                  </button>
                ) : (
                  <span className="file-name">
                    <File size={16} aria-hidden="true" className="file-icon" />
                    {e.name}
                  </span>
                )}
                {e.linkTarget && <span className="muted"> → {e.linkTarget}</span>}
              </td>
              <td>{e.type === 'dir' ? '—' : formatBytes(e.size)}</td>
              <td className="mono">{modeText(e)}</td>
              <td className="muted">{e.mtime ? new Date(e.mtime).toLocaleString() : '—'}</td>
              <td>
                {e.type !== 'dir' && (
                  <Button label={`Download ${e.name}`} icon={Download} iconOnly kind="ghost" onClick={() => void download(e)} disabled={busy} />
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && entries.length === 0 && <p className="muted">This directory is empty.</p>}
    </div>
  );
}
