/**
 * Berth Desktop's settings (theme, the tour's progress, the tour's sample image): the `settings`
 * section of the engines registry's file (client/contexts), so the app's engines and settings stay
 * one file, written whole and atomically. What is read is checked field by field; a field that is
 * missing or malformed takes its default.
 */
import type { EngineRegistry } from '../../client/contexts/index.js';
import type { Settings } from '../../types/desktop-api.js';

/**
 * The tour's sample is what a new user can pull anywhere: a small web server from Docker Hub
 * (it serves a page on its published port). Tests and offline setups point these at their own
 * registry through settings.set or the config file.
 */
export const DEFAULT_SETTINGS: Settings = {
  theme: 'system',
  onboardingDone: false,
  sampleRegistry: 'docker.io',
  sampleImage: 'library/nginx:alpine',
  tour: { step: 0 },
};

/** The tour's saved progress, keeping only well-formed fields. */
export function cleanTour(raw: unknown): Settings['tour'] {
  const r = raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
  const tour: Settings['tour'] = { step: Number.isInteger(r['step']) && (r['step'] as number) >= 0 && (r['step'] as number) < 10 ? (r['step'] as number) : 0 };
  if (typeof r['image'] === 'string' && r['image'] !== '') tour.image = r['image'];
  if (typeof r['containerId'] === 'string' && /^[0-9a-f]{12,64}$/.test(r['containerId'])) tour.containerId = r['containerId'];
  if (Number.isInteger(r['hostPort']) && (r['hostPort'] as number) > 0 && (r['hostPort'] as number) < 65536) tour.hostPort = r['hostPort'] as number;
  return tour;
}

const SECTION = 'settings';

function cleanSettings(raw: unknown): Settings {
  const s = { ...DEFAULT_SETTINGS };
  if (!raw || typeof raw !== 'object') return s;
  const r = raw as Record<string, unknown>;
  if (r['theme'] === 'light' || r['theme'] === 'dark' || r['theme'] === 'system') s.theme = r['theme'];
  if (typeof r['onboardingDone'] === 'boolean') s.onboardingDone = r['onboardingDone'];
  if (typeof r['sampleRegistry'] === 'string') s.sampleRegistry = r['sampleRegistry'];
  if (typeof r['sampleImage'] === 'string') s.sampleImage = r['sampleImage'];
  s.tour = cleanTour(r['tour']);
  return s;
}

/** The app's settings, kept in the registry's file. */
export class DesktopSettings {
  constructor(private readonly registry: EngineRegistry) {}

  get(): Settings {
    return cleanSettings(this.registry.section(SECTION));
  }

  async set(patch: Partial<Settings>): Promise<Settings> {
    await this.registry.setSection(SECTION, { ...this.get(), ...patch });
    return this.get();
  }

  /** Back to a first run: default settings and no added engines (the built-in ones stay). */
  async reset(): Promise<void> {
    await this.registry.reset({ [SECTION]: { ...DEFAULT_SETTINGS, tour: { step: 0 } } });
  }
}
