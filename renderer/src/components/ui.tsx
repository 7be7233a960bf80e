/**
 * The few building blocks every screen uses: buttons (with an icon, and disabled with a reason
 * while the engine is down), a modal dialog that keeps focus inside it, a confirmation, status
 * badges, empty and error states, and toasts announced to screen readers.
 */
import { useRef, useState, useSyncExternalStore, type ReactNode } from 'react';
import { formatAgo, formatDate } from '../format';
import { X, type LucideIcon } from '../icons';
import { useEngineDown } from '../state';
import { useFocusTrap } from './focus';
import { Glyph } from './Glyph';

export function Button(props: {
  children?: ReactNode;
  onClick?: () => void;
  kind?: 'primary' | 'danger' | 'plain' | 'ghost';
  disabled?: boolean;
  type?: 'button' | 'submit';
  label?: string;
  title?: string;
  icon?: LucideIcon;
  /** The action needs the engine: disabled, with the reason as its title, while the engine is down. */
  engine?: boolean;
  /** Only the icon shows; `label` names the button. */
  iconOnly?: boolean;
  size?: 'small';
}): ReactNode {
  const down = useEngineDown();
  const blocked = props.engine === true && down !== undefined;
  const Icon = props.icon;
  const cls = ['btn', `btn-${props.kind ?? 'plain'}`, props.iconOnly ? 'btn-icon' : '', props.size === 'small' ? 'btn-small' : ''].filter(Boolean).join(' ');
  return (
    <button
      type={props.type ?? 'button'}
      className={cls}
      onClick={props.onClick}
      disabled={props.disabled === true || blocked}
      aria-label={props.label}
      title={blocked ? down : (props.title ?? props.label)}
      data-engine-blocked={blocked ? '' : undefined}
    >
      {Icon && <Glyph icon={Icon} className="btn-glyph" />}
      {!props.iconOnly && props.children}
    </button>
  );
}

/**
 * A modal dialog: the first field takes focus, Tab stays inside, Escape closes, and focus
 * returns to what opened it.
 */
export function Dialog(props: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean; description?: string }): ReactNode {
  const ref = useRef<HTMLDivElement>(null);
  useFocusTrap(ref, props.onClose);
  const titleId = useRef(`dlg-${Math.random().toString(36).slice(2, 9)}`).current;
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div className={`dialog${props.wide ? ' dialog-wide' : ''}`} role="dialog" aria-modal="true" aria-labelledby={titleId} tabIndex={-1} ref={ref}>
        <header className="dialog-header">
          <h2 id={titleId}>{props.title}</h2>
          <button type="button" className="btn btn-ghost btn-icon" aria-label="Close" data-dialog-close onClick={props.onClose}>
            <X size={16} aria-hidden="true" />
          </button>
        </header>
        <div className="dialog-body">{props.children}</div>
        {props.footer && <footer className="dialog-footer">{props.footer}</footer>}
      </div>
    </div>
  );
}

export function Confirm(props: { title: string; message: ReactNode; confirm: string; danger?: boolean; onConfirm: () => void; onCancel: () => void; busy?: boolean }): ReactNode {
  return (
    <Dialog
      title={props.title}
      onClose={props.onCancel}
      footer={
        <>
          <Button onClick={props.onCancel}>Cancel</Button>
          <Button kind={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm} engine disabled={props.busy}>
            {props.confirm}
          </Button>
        </>
      }
    >
      <div className="confirm-message">{props.message}</div>
    </Dialog>
  );
}

export function Badge(props: { tone: 'ok' | 'warn' | 'bad' | 'idle'; children: ReactNode; title?: string }): ReactNode {
  return (
    <span className={`badge badge-${props.tone}`} title={props.title}>
      {props.children}
    </span>
  );
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
  const down = useEngineDown();
  // While the engine is down the app-wide banner says so once; screens do not repeat it.
  if (!props.error || down) return null;
  return (
    <div className="error-banner" role="alert">
      <span>{props.error}</span>
      {props.onRetry && <Button onClick={props.onRetry}>Retry</Button>}
    </div>
  );
}

/** A relative age ("3 years ago") with the full date on hover. */
export function Ago(props: { time: number | string | undefined; prefix?: string }): ReactNode {
  const text = formatAgo(props.time);
  const full = formatDate(props.time);
  return (
    <time dateTime={typeof props.time === 'number' ? new Date(props.time * 1000).toISOString() : props.time} title={full || undefined}>
      {props.prefix}
      {text}
    </time>
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
