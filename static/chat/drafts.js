// Unsent text per room, kept in this browser (localStorage) so a reload or a
// crash does not lose what someone was typing. Keyed by user and room; a draft
// untouched for DRAFT_DAYS is forgotten. No DOM here: the storage is handed in.

export const DRAFT_DAYS = 30;
const PREFIX = "chatsite:draft:";

export class Drafts {
  constructor(storage, userId, now = () => Date.now()) {
    this.storage = storage; // localStorage, or null (private mode, disabled storage)
    this.userId = userId;
    this.now = now;
  }

  key(roomId) {
    return `${PREFIX}${this.userId}:${roomId}`;
  }

  get(roomId) {
    if (!this.storage || !roomId) return "";
    try {
      const saved = JSON.parse(this.storage.getItem(this.key(roomId)) || "null");
      if (!saved || typeof saved.text !== "string") return "";
      if (this.now() - saved.at > DRAFT_DAYS * 86400000) {
        this.storage.removeItem(this.key(roomId));
        return "";
      }
      return saved.text;
    } catch (_error) {
      return "";
    }
  }

  set(roomId, text) {
    if (!this.storage || !roomId) return;
    try {
      if (text && text.trim()) this.storage.setItem(this.key(roomId), JSON.stringify({ text, at: this.now() }));
      else this.storage.removeItem(this.key(roomId));
    } catch (_error) {
      // Full or refused storage: the draft lives on in memory only.
    }
  }

  clear(roomId) {
    this.set(roomId, "");
  }

  // Every draft of this user in this browser (logging out of a shared browser).
  clearAll() {
    if (!this.storage) return;
    try {
      const mine = `${PREFIX}${this.userId}:`;
      const keys = [];
      for (let index = 0; index < this.storage.length; index += 1) {
        const key = this.storage.key(index);
        if (key && key.startsWith(mine)) keys.push(key);
      }
      for (const key of keys) this.storage.removeItem(key);
    } catch (_error) {
      // Nothing more to do.
    }
  }
}
