/**
 * Build arguments the builder defines by itself, as BuildKit does:
 *
 * - the platform arguments (TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT and the BUILD*
 *   ones): visible without a declaration in the global scope (so `FROM --platform=$BUILDPLATFORM`
 *   works), and in a stage after a bare `ARG TARGETARCH`. The target is `--platform` or this
 *   host; the build platform is always this host.
 * - the proxy arguments (HTTP_PROXY and friends, either case): a `--build-arg` may set them
 *   without an ARG in the Dockerfile; RUN sees them, but they are left out of the history and
 *   the cache key (a proxy change does not rebuild), and never reported as unconsumed.
 */
import { endianness } from 'node:os';
import { invalid } from '../common/errors.js';

export const PROXY_ARGS: ReadonlySet<string> = new Set([
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy',
  'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
]);

export interface BuildPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', i686: '386' };

/** "linux/arm64/v8" (the --platform syntax), with Go's architecture names; arm64's v8 is implied, as in BuildKit. */
export function parseBuildPlatform(text: string): BuildPlatform {
  const parts = text.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) throw invalid(`invalid platform "${text}": expected os/arch[/variant]`);
  const [os, rawArch, rawVariant] = parts as [string, string, string | undefined];
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = rawVariant ?? (rawArch === 'armel' ? 'v6' : architecture === 'arm' ? 'v7' : undefined);
  if (architecture === 'arm64' && variant === 'v8') variant = undefined;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** The platform of this host's containers (Linux whatever the host OS: a VM runs them elsewhere). */
export function hostBuildPlatform(): BuildPlatform {
  switch (process.arch) {
    case 'x64':
      return { os: 'linux', architecture: 'amd64' };
    case 'arm64':
      return { os: 'linux', architecture: 'arm64' };
    case 'arm': {
      const v = Number((process.config.variables as Record<string, unknown>)['arm_version'] ?? 7);
      return { os: 'linux', architecture: 'arm', variant: `v${Number.isFinite(v) && v > 0 ? v : 7}` };
    }
    case 'ia32':
      return { os: 'linux', architecture: '386' };
    case 'ppc64':
      return { os: 'linux', architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    default:
      return { os: 'linux', architecture: process.arch };
  }
}

export const formatBuildPlatform = (p: BuildPlatform): string => [p.os, p.architecture, p.variant].filter((x) => x).join('/');

/** TARGET* and BUILD* for a build. */
export function platformArgs(target: BuildPlatform, build: BuildPlatform): Map<string, string> {
  return new Map([
    ['TARGETPLATFORM', formatBuildPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['BUILDPLATFORM', formatBuildPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
  ]);
}
