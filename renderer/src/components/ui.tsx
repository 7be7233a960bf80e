/**
 * The few building blocks every screen uses: buttons, a modal dialog with focus handling, a
 * confirmation, status badges, empty and error states, and toasts announced to screen readers.
 */
import { useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from 'react';

export function Button(props: {
  children: ReactNode;
  onClick?: () => void;
  kind?: 'primary' | 'danger' | 'plain';
  disabled?: boolean;
  type?: 'button' | 'submit';
  label?: string;
  title?: string;
}): ReactNode {
  return (
    <button
      type={props.type ?? 'button'}
      className={`btn btn-${props.kind ?? 'plain'}`}
      onClick={props.onClick}
      disabled={props.disabled}
      aria-label={props.label}
      title={props.title ?? props.label}
    >
      {props.children}
    </button>
  );
}

/** A modal dialog: focus moves in on open, Escape closes, focus returns where it was. */
export function Dialog(props: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean }): ReactNode {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('input, select, textarea, button');
    first?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape') props.onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      before?.focus();
    };
  }, []);
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div className={`dialog${props.wide ? ' dialog-wide' : ''}`} role="dialog" aria-modal="true" aria-label={props.title} ref={ref}>
        <header className="dialog-header">
          <h2>{props.title}</h2>
          <button type="button" className="btn btn-plain" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        <div className="dialog-body">{props.children}</div>
        {props.footer && <footer className="dialog-footer">{props.footer}</footer>}
      </div>
    </div>
  );
}

export function Confirm(props: { title: string; message: ReactNode; confirm: string; danger?: boolean; onConfirm: () => void; onCancel: () => void }): ReactNode {
  return (
    <Dialog
      title={props.title}
      onClose={props.onCancel}
      footer={
        <>
          <Button onClick={props.onCancel}>Cancel</Button>
          <Button kind={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>
            {props.confirm}
          </Button>
        </>
      }
    >
      <p>{props.message}</p>
    </Dialog>
  );
}

export function Badge(props: { tone: 'ok' | 'warn' | 'bad' | 'idle'; children: ReactNode }): ReactNode {
  return <span className={`badge badge-${props.tone}`}>{props.children}</span>;
}

/** Docker's container states as a badge. */
export function StateBadge(props: { state: string }): ReactNode {
  const tone = props.state === 'running' ? 'ok' : props.state === 'paused' || props.state === 'restarting' ? 'warn' : props.state === 'dead' ? 'bad' : 'idle';
  return <Badge tone={tone}>{props.state}</Badge>;
}

export function Empty(props: { title: string; children?: ReactNode }): ReactNode {
  return (
    <div className="empty" role="status">
      <h3>{props.title}</h3>
      {props.children}
    </div>
  );
}

export function ErrorBanner(props: { error: string | undefined; onRetry?: () => void }): ReactNode {
  if (!props.error) return null;
  return (
    <div className="error-banner" role="alert">
      <span>{props.error}</span>
      {props.onRetry && <Button onClick={props.onRetry}>Retry</Button>}
    </div>
  );
}

// ---- toasts

interface Toast {
  id: number;
  text: string;
  tone: 'ok' | 'bad';
}
let toasts: Toast[] = [];
const toastListeners = new Set<() => void>();
let nextToast = 1;

export function toast(text: string, tone: 'ok' | 'bad' = 'ok'): void {
  const t = { id: nextToast++, text, tone };
  toasts = [...toasts, t];
  toastListeners.forEach((l) => l());
  setTimeout(() => {
    toasts = toasts.filter((x) => x.id !== t.id);
    toastListeners.forEach((l) => l());
  }, 5000);
}

export function Toasts(): ReactNode {
  const list = useSyncExternalStore(
    (l) => {
      toastListeners.add(l);
      return () => toastListeners.delete(l);
    },
    () => toasts,
  );
  return (
    <div className="toasts" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} className={`toast toast-${t.tone}`}>
          {t.text}
        </div>
      ))}
    </div>
  );
}

/** Runs an action, turning failures into a toast; `busy` while it runs. */
export function useAction(): [boolean, (what: string, fn: () => Promise<unknown>, done?: string) => Promise<void>] {
  const [busy, setBusy] = useState(false);
  const run = async (what: string, fn: () => Promise<unknown>, done?: string): Promise<void> => {
    setBusy(true);
    try {
      await fn();
      if (done) toast(done);
    } catch (err) {
      toast(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, 'bad');
    } finally {
      setBusy(false);
    }
  };
  return [busy, run];
}
