/**
 * The engine's event log: every state change is published here and served on
 * GET /events. A bounded ring keeps recent history so `since` works without the
 * log growing forever (dockerd keeps a similar in-memory window).
 */
export type EventType = 'image' | 'container' | 'network' | 'volume' | 'daemon' | 'builder' | 'plugin';

export interface EngineEvent {
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
}

export type EventListener = (e: EngineEvent) => void;

export class EventBus {
  private readonly ring: EngineEvent[] = [];
  private readonly listeners = new Set<EventListener>();
  private lastNano = 0;

  constructor(private readonly capacity = 1024) {}

  publish(type: EventType, action: string, id: string, attributes: Record<string, string> = {}): EngineEvent {
    // Strictly increasing timestamps keep since/until boundaries unambiguous.
    let nano = Number(process.hrtime.bigint() % 1_000_000n) + Date.now() * 1_000_000;
    if (nano <= this.lastNano) nano = this.lastNano + 1;
    this.lastNano = nano;
    const ev: EngineEvent = {
      Type: type,
      Action: action,
      Actor: { ID: id, Attributes: attributes },
      scope: 'local',
      time: Math.floor(nano / 1e9),
      timeNano: nano,
    };
    this.ring.push(ev);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const l of this.listeners) l(ev);
    return ev;
  }

  history(): readonly EngineEvent[] {
    return this.ring;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
