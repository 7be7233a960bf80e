/**
 * Icons for places that render many of them (table rows, headers, buttons): a lucide icon as a
 * single <span> whose shape is a CSS mask, filled with the text colour. A lucide component builds
 * a whole SVG (and an <svg><use> a shadow tree) per use, which made a 500-container list three
 * times slower to filter; a masked span costs what any span costs.
 *
 * The masks are made once, when this module loads, from each icon's own drawing (the path data
 * lucide-react keeps on the element its component returns). An icon whose drawing cannot be read
 * that way falls back to the component, so nothing ever goes missing.
 */
import type { ReactNode } from 'react';
import type { LucideIcon } from '../icons';

type IconNode = [string, Record<string, string | number>][];

/** lucide-react 1.x: the forwardRef component renders <Icon icon={{ name, node }} />. */
function drawingOf(icon: LucideIcon): IconNode | undefined {
  try {
    const render = (icon as unknown as { render?: (props: object, ref: null) => { props?: { icon?: { node?: IconNode } } } }).render;
    const node = render?.({}, null)?.props?.icon?.node;
    return Array.isArray(node) ? node : undefined;
  } catch {
    return undefined;
  }
}

const escapeAttr = (v: string | number): string => String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function svgOf(node: IconNode): string {
  const parts = node.map(([tag, attrs]) => `<${tag} ${Object.entries(attrs).filter(([k]) => k !== 'key').map(([k, v]) => `${k}="${escapeAttr(v)}"`).join(' ')}/>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="black" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${parts.join('')}</svg>`;
}

const masked = new Map<LucideIcon, string>();
let sheet: HTMLStyleElement | undefined;
let next = 0;

/** The class whose mask draws `icon`, made (and its rule added) on first use; undefined if it cannot be. */
function classFor(icon: LucideIcon): string | undefined {
  const known = masked.get(icon);
  if (known) return known;
  const node = drawingOf(icon);
  if (!node) return undefined;
  const cls = `glyph-${next++}`;
  const url = `url("data:image/svg+xml,${encodeURIComponent(svgOf(node))}")`;
  sheet ??= document.head.appendChild(document.createElement('style'));
  sheet.append(`.${cls}{-webkit-mask-image:${url};mask-image:${url}}\n`);
  masked.set(icon, cls);
  return cls;
}

export function Glyph(props: { icon: LucideIcon; size?: number; className?: string }): ReactNode {
  const size = props.size ?? 16;
  const cls = classFor(props.icon);
  if (!cls) {
    const I = props.icon;
    return <I size={size} aria-hidden="true" {...(props.className ? { className: props.className } : {})} />;
  }
  return <span aria-hidden="true" className={`glyph ${cls}${props.className ? ` ${props.className}` : ''}`} style={size === 16 ? undefined : { width: size, height: size }} />;
}
