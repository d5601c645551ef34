// How the message list reads as a conversation: a separator at each new day
// ("Today", "Yesterday", then the date), and consecutive messages of one sender
// within GROUP_MINUTES grouped under one name. Pure: dates in, words out.
// Days are those of the display time zone (zone.js: the profile's, or the browser's).

import { dayBefore, dayOf, formatter } from "./zone.js";

export const GROUP_MINUTES = 5;

// The calendar day of a time in the display zone, as YYYY-MM-DD.
export function localDay(iso) {
  return dayOf(iso);
}

export function dayLabel(iso, now = new Date()) {
  const day = localDay(iso);
  const today = localDay(now);
  if (day === today) return "Today";
  if (day === dayBefore(today)) return "Yesterday";
  const sameYear = day.slice(0, 4) === today.slice(0, 4);
  const options = sameYear ? { weekday: "long", day: "numeric", month: "long" } : { weekday: "long", day: "numeric", month: "long", year: "numeric" };
  return formatter(options).format(new Date(iso));
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
