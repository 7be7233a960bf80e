/**
 * Why a pull or push failed, said the way a person needs it: the engine's error text (dockerd's
 * and berthd's wordings, with the Node errno codes inside them) sorted into the causes people
 * actually meet — no network, a name that does not resolve, a proxy in the way, a registry
 * that wants a login, an image that does not exist, a registry that is not running, TLS, rate
 * limits, a full disk — each with what to do next. The raw text stays on the job for details.
 */
import type { JobProblem } from '../../types/desktop-api.js';

/** The registry a reference names ("docker.io" when it names none), for the messages. */
export function registryOf(ref: string): string {
  const first = ref.split('/')[0] ?? '';
  return ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

interface Rule {
  kind: JobProblem['kind'];
  test: RegExp;
  problem(registry: string, ref: string): Omit<JobProblem, 'kind'>;
}

// Order matters: the first rule that matches wins (a refused proxy is a proxy problem, not a refused registry).
const RULES: Rule[] = [
  {
    kind: 'proxy',
    test: /proxyconnect|proxy authentication required|\b407\b|tunneling socket|HTTPS?_PROXY/i,
    problem: () => ({
      summary: 'The proxy between this computer and the registry refused the connection.',
      hint: "Check the engine's proxy settings (HTTP_PROXY, HTTPS_PROXY, NO_PROXY) and the proxy's credentials, then pull again.",
    }),
  },
  {
    kind: 'disk',
    test: /ENOSPC|no space left on device/i,
    problem: () => ({
      summary: 'The engine ran out of disk space while storing the image.',
      hint: 'Free space: remove unused images, containers and volumes (Prune on the Images and Volumes screens), then pull again.',
    }),
  },
  {
    kind: 'rate-limit',
    test: /toomanyrequests|too many requests|\b429\b|rate limit/i,
    problem: (registry) => ({
      summary: `${registry} is limiting how many images can be pulled right now.`,
      hint: registry === 'docker.io' ? 'Wait a while, or log in to Docker Hub (docker login) for a higher limit, then pull again.' : 'Wait a while, then pull again.',
    }),
  },
  {
    kind: 'dns',
    test: /ENOTFOUND|EAI_AGAIN|EAI_NONAME|no such host|server misbehaving|Temporary failure in name resolution|getaddrinfo/i,
    problem: (registry) => ({
      summary: `The name ${registry} could not be looked up (DNS).`,
      hint: 'Check the registry name for typos and that this computer is online; on a company network, check its DNS or VPN.',
    }),
  },
  {
    kind: 'offline',
    test: /ENETUNREACH|EHOSTUNREACH|network is unreachable|no route to host|ENETDOWN/i,
    problem: (registry) => ({
      summary: `There is no network route to ${registry}: this computer looks offline.`,
      hint: 'Connect to the internet (or the network the registry is on), then pull again.',
    }),
  },
  {
    kind: 'refused',
    test: /ECONNREFUSED|connection refused/i,
    problem: (registry) => ({
      summary: `Nothing is answering at ${registry}: the registry is not running there, or the address or port is wrong.`,
      hint: `Check the registry address (${registry}). If it is your own registry, start it; to use Docker Hub instead, use an image name without a registry, like nginx:alpine.`,
    }),
  },
  {
    kind: 'timeout',
    test: /ETIMEDOUT|ESOCKETTIMEDOUT|UND_ERR_CONNECT_TIMEOUT|timed out|timeout|i\/o timeout|ECONNRESET|socket hang up/i,
    problem: (registry) => ({
      summary: `${registry} did not answer in time.`,
      hint: 'The network or the registry is slow or down. Check your connection, then pull again.',
    }),
  },
  {
    kind: 'tls',
    test: /x509|certificate|tls:|SSL|server gave HTTP response to HTTPS client/i,
    problem: (registry) => ({
      summary: `A secure (TLS) connection to ${registry} could not be made.`,
      hint: /:\d+$/.test(registry) || registry.startsWith('localhost')
        ? `If ${registry} is a plain-HTTP registry you run, add it to the engine's insecure registries (berthd --insecure-registry ${registry}).`
        : "The registry's certificate is not trusted here: check the system's CA certificates or a proxy that intercepts TLS.",
    }),
  },
  {
    kind: 'not-found',
    test: /manifest unknown|not found|does not exist|name unknown|NAME_UNKNOWN|MANIFEST_UNKNOWN|no such image|\b404\b/i,
    problem: (registry, ref) => ({
      summary: `${ref} was not found on ${registry}.`,
      hint: 'Check the image name and tag for typos (for example nginx:alpine). A private image also needs you to log in first (docker login).',
    }),
  },
  {
    kind: 'auth',
    test: /unauthorized|authentication required|access denied|denied|forbidden|no basic auth credentials|\b401\b|\b403\b|incorrect username or password/i,
    problem: (registry) => ({
      summary: `${registry} refused access: this image needs a login, or the login was not accepted.`,
      hint: `Log in to ${registry} (docker login${registry === 'docker.io' ? '' : ` ${registry}`}) with an account that may pull it, then pull again.`,
    }),
  },
];

/** The plain-words problem behind an engine error text; `ref` is what was being pulled or pushed. */
export function classifyPullError(message: string, ref: string): JobProblem {
  const registry = registryOf(ref);
  for (const r of RULES) if (r.test.test(message)) return { kind: r.kind, ...r.problem(registry, ref) };
  return {
    kind: 'other',
    summary: `The engine could not pull ${ref}.`,
    hint: 'The details below are the engine\'s own words; Troubleshoot shows its log.',
  };
}
