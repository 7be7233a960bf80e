/**
 * Keeping keyboard focus where a modal is: Tab and Shift+Tab cycle inside it, the first field
 * (not the close button) gets focus when it opens, Escape closes only the topmost one, and
 * focus goes back to what opened it — or, when that is gone (the route changed under it), to
 * the screen's heading, so it never falls to the page's top.
 */
import { useEffect, useRef, type RefObject } from 'react';

const TABBABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export function tabbables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(TABBABLE)].filter((el) => !el.closest('[hidden], [inert]') && el.getClientRects().length > 0);
}

/** The element to focus first: a field, else the first action that is not "close", else the container. */
function initialFocus(root: HTMLElement): HTMLElement {
  const marked = root.querySelector<HTMLElement>('[data-autofocus]');
  if (marked) return marked;
  const all = tabbables(root);
  return (
    all.find((el) => el.matches('input:not([type="checkbox"]):not([type="radio"]), select, textarea')) ??
    all.find((el) => !el.hasAttribute('data-dialog-close')) ??
    root
  );
}

/** What identifies a control to a person: its role and its name. */
interface ControlKey {
  tag: string;
  name: string;
}

function describe(el: HTMLElement): ControlKey {
  return { tag: el.tagName, name: (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() };
}

function findLike(key: ControlKey): HTMLElement | undefined {
  if (!key.name) return undefined;
  return [...document.querySelectorAll<HTMLElement>(key.tag.toLowerCase())].find((el) => describe(el).name === key.name && el.getClientRects().length > 0);
}

/**
 * The control that last had focus outside any modal. A dialog with its own route (Run, Pull)
 * mounts after the screen that opened it has gone, so its opener is known only from here.
 */
let lastOutside: ControlKey | undefined;
document.addEventListener('focusin', (e) => {
  const el = e.target;
  if (el instanceof HTMLElement && el !== document.body && !el.closest('[role=dialog]')) lastOutside = describe(el);
});

/** Open modals, innermost last: only the top one reacts to Tab and Escape. */
const stack: HTMLElement[] = [];

/** Where focus goes when the opener has left the page: the current screen's heading. */
function fallbackTarget(): HTMLElement | null {
  return document.querySelector<HTMLElement>('main h1') ?? document.querySelector<HTMLElement>('main');
}

export function useFocusTrap(ref: RefObject<HTMLElement | null>, onEscape: () => void): void {
  const escape = useRef(onEscape);
  escape.current = onEscape;
  useEffect(() => {
    const root = ref.current;
    if (!root) return;
    const active = document.activeElement;
    const opener = active instanceof HTMLElement && active !== document.body ? active : null;
    const openerKey = opener ? describe(opener) : lastOutside;
    stack.push(root);
    initialFocus(root).focus();
    const onKey = (e: KeyboardEvent): void => {
      if (stack[stack.length - 1] !== root) return;
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        escape.current();
        return;
      }
      if (e.key !== 'Tab') return;
      const items = tabbables(root);
      if (items.length === 0) {
        e.preventDefault();
        root.focus();
        return;
      }
      const first = items[0]!;
      const last = items[items.length - 1]!;
      const active = document.activeElement;
      const outside = !(active instanceof Node) || !root.contains(active);
      if (e.shiftKey && (active === first || outside)) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && (active === last || outside)) {
        e.preventDefault();
        first.focus();
      }
    };
    // Focus that lands outside (a click on the page behind) is brought back in.
    const onFocusIn = (e: FocusEvent): void => {
      if (stack[stack.length - 1] !== root) return;
      if (e.target instanceof Node && !root.contains(e.target)) initialFocus(root).focus();
    };
    document.addEventListener('keydown', onKey, true);
    document.addEventListener('focusin', onFocusIn);
    return () => {
      document.removeEventListener('keydown', onKey, true);
      document.removeEventListener('focusin', onFocusIn);
      stack.splice(stack.indexOf(root), 1);
      // After React has removed the modal (and maybe gone back to the screen it was opened from,
      // which renders a new copy of the opener), put focus back on the opener or its copy.
      const key = openerKey;
      let tries = 0;
      const restore = (): void => {
        const active = document.activeElement;
        if (active && active !== document.body && !root.contains(active) && !active.matches('main, main h1')) return;
        const again = opener && opener.isConnected ? opener : key ? findLike(key) : undefined;
        if (!again && ++tries < 10) {
          setTimeout(restore, 30);
          return;
        }
        const target = again ?? fallbackTarget();
        if (target && target.tabIndex < 0 && !target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
        target?.focus();
      };
      setTimeout(restore, 0);
    };
  }, []);
}
