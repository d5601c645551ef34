// The time zone displayed times are in: the one chosen in the profile, or the
// browser's own (none chosen). Pure: formatters and calendar days in that zone.

let zone; // undefined: the browser's
const formatters = new Map();

export function setTimeZone(name) {
  zone = name && validTimeZone(name) ? name : undefined;
  formatters.clear();
}

export function timeZone() {
  return zone;
}

export function validTimeZone(name) {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch (_error) {
    return false;
  }
}

// An Intl.DateTimeFormat in the display zone (cached per options).
export function formatter(options, locale = undefined) {
  const key = `${locale || ""}|${JSON.stringify(options)}`;
  let made = formatters.get(key);
  if (!made) {
    made = new Intl.DateTimeFormat(locale, zone ? { ...options, timeZone: zone } : options);
    formatters.set(key, made);
  }
  return made;
}

// The calendar day of a time in the display zone, as YYYY-MM-DD.
export function dayOf(value) {
  const parts = {};
  for (const part of formatter({ year: "numeric", month: "2-digit", day: "2-digit" }, "en-US").formatToParts(new Date(value))) {
    parts[part.type] = part.value;
  }
  return `${parts.year}-${parts.month}-${parts.day}`;
}

// The day before a YYYY-MM-DD day (calendar arithmetic, no zone).
export function dayBefore(day) {
  const [year, month, date] = day.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, date - 1)).toISOString().slice(0, 10);
}
