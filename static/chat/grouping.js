// How the message list reads as a conversation: a separator at each new day
// ("Today", "Yesterday", then the date), and consecutive messages of one sender
// within GROUP_MINUTES grouped under one name. Pure: dates in, words out.

export const GROUP_MINUTES = 5;

// The local calendar day of a time, as YYYY-MM-DD.
export function localDay(iso) {
  const date = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

const longDate = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });
const longDateWithYear = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

export function dayLabel(iso, now = new Date()) {
  const day = localDay(iso);
  if (day === localDay(now)) return "Today";
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1, 12);
  if (day === localDay(yesterday)) return "Yesterday";
  const date = new Date(iso);
  return (date.getFullYear() === now.getFullYear() ? longDate : longDateWithYear).format(date);
}

// Whether `message` continues the group of `previous` (the message drawn just
// before it, with no separator in between).
export function continuesGroup(previous, message) {
  if (!previous || !message || !previous.sender || !message.sender) return false;
  if (previous.message_type === "system" || message.message_type === "system") return false;
  if (previous.sender.id !== message.sender.id) return false;
  if (localDay(previous.created_at) !== localDay(message.created_at)) return false;
  const gap = new Date(message.created_at) - new Date(previous.created_at);
  return gap >= 0 && gap <= GROUP_MINUTES * 60000;
}
