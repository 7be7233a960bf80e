/**
 * Every form the app shows in a dialog has the same frame: a title, the fields, the engine's
 * refusal above them, and a footer with Cancel and the submit button, which is disabled while the
 * submit runs (and, as every engine action, while the engine is down). Enter in a field submits, as
 * the footer button does. Focus is the Dialog's: the first field on open, Tab kept inside, Escape
 * closes, focus back to the opener. `useSubmit` is the submit itself.
 */
import { useRef, useState, type ReactNode } from 'react';
import { errorText } from '../bridge';
import { Button, Dialog, ErrorBanner } from './ui';

export interface Submit {
  /** True while the work runs. */
  busy: boolean;
  /** The last failure in words (the engine's refusal, or a check that failed before any work). */
  error: string | undefined;
  setError(text: string | undefined): void;
  /** Runs the work: busy meanwhile, the error cleared first and set if it throws; a second run while one is busy is ignored. */
  run(work: () => Promise<void>): Promise<void>;
}

export function useSubmit(): Submit {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // State updates land after the render; the ref stops a double Enter from submitting twice.
  const running = useRef(false);
  const run = async (work: () => Promise<void>): Promise<void> => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(errorText(err));
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}

export function FormDialog(props: {
  title: string;
  onClose: () => void;
  /** Checks the fields and starts the submit (usually through useSubmit's run). */
  onSubmit: () => void;
  busy: boolean;
  submitLabel: string;
  /** The submit button's words while busy (default: unchanged). */
  busyLabel?: string;
  submitKind?: 'primary' | 'danger';
  /** False keeps the submit button disabled (a required field is empty, a job is running). */
  canSubmit?: boolean;
  cancelLabel?: string;
  /** Shown above the fields; forms that tie their error to a field render it themselves. */
  error?: string;
  wide?: boolean;
  className?: string;
  children: ReactNode;
}): ReactNode {
  return (
    <Dialog
      title={props.title}
      onClose={props.onClose}
      wide={props.wide}
      footer={
        <>
          <Button onClick={props.onClose}>{props.cancelLabel ?? 'Cancel'}</Button>
          <Button kind={props.submitKind ?? 'primary'} engine disabled={props.busy || props.canSubmit === false} onClick={props.onSubmit}>
            {props.busy && props.busyLabel ? props.busyLabel : props.submitLabel}
          </Button>
        </>
      }
    >
      <form
        className={props.className}
        onSubmit={(e) => {
          e.preventDefault();
          props.onSubmit();
        }}
      >
        <ErrorBanner error={props.error} />
        {props.children}
        <button type="submit" hidden />
      </form>
    </Dialog>
  );
}
