// The wire protocol's vocabulary as the server states it (chat/events/wire.py,
// rendered into the page config as `wire`): event kinds and close codes are
// never typed a second time here. Pure: Node tests build their own.

export function createWire(constants) {
  if (!constants || !constants.events || !constants.close) throw new Error("the page config has no wire constants");
  const { events, close } = constants;
  return Object.freeze({
    logged: new Set(events.logged), // a room's log: each has a gap-free seq
    message: new Set(events.message),
    ephemeral: new Set(events.ephemeral), // broadcast, never logged
    server: new Set(events.server),
    client: new Set(events.client),
    close: Object.freeze({ ...close }),
  });
}
