"""Import a Slack export (the ZIP of a workspace's "Export data").

The export: ``users.json``, ``channels.json`` (public), ``groups.json``
(private), ``dms.json``, ``mpims.json`` (group DMs), and a folder per
conversation (a channel's or group DM's name, a DM's id) of ``YYYY-MM-DD.json``
arrays of messages. Files are links to Slack; the few exporters that include
them put them under ``__uploads/<file id>/<name>`` or beside the day files.

Order of work: people (matched by email, or created inactive and invited),
then each conversation's room with its members, then its messages in time
order, then the room is marked read. Each object is written in a transaction
of its own together with its row in the import map (``ImportedObject``), so a
second run imports nothing twice and an interrupted run goes on where it
stopped. Every write goes through chat.commands.

The archive is read in place: JSON is parsed from the ZIP, and a file to
import is copied out to a temporary directory under a name of ours, never the
archive's. A ZIP whose names leave its root (``../x``, ``/etc/x``) or whose
files unpack to more than ``CHAT_IMPORT_MAX_BYTES`` is refused before anything
is written.
"""

import json
import posixpath
import re
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.files import File
from django.db import transaction

from accounts import services as account_services
from accounts.models import Company
from chat import commands
from chatsite.core.exceptions import ChatError

from . import invitations
from .models import ImportedObject

User = get_user_model()
SOURCE = "slack"
MAX_JSON_BYTES = 512 * 1024 * 1024  # one JSON file (also within CHAT_IMPORT_MAX_BYTES)
MAX_DETAILS = 200  # report lines of what was skipped
PROGRESS_SECONDS = 10  # a job hears progress (and renews its lease) at least this often
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
# Subtypes that are notices of Slack itself, not something someone wrote.
NOTICE_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "group_join", "group_leave", "group_topic", "group_purpose", "group_name",
    "group_archive", "group_unarchive", "pinned_item", "unpinned_item", "reminder_add", "bot_add", "bot_remove",
    "channel_convert_to_private", "channel_convert_to_public", "huddle_thread", "sh_room_created",
})


class SlackImportError(Exception):
    """The export cannot be imported at all (the message says why); nothing was written."""


# --- the archive ------------------------------------------------------------------------------
def _safe_name(name: str) -> bool:
    if not name or "\x00" in name or "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in name.split("/")


class SlackArchive:
    """A Slack export ZIP, checked as a whole when opened."""

    def __init__(self, path, *, max_bytes: int | None = None):
        max_bytes = settings.CHAT_IMPORT_MAX_BYTES if max_bytes is None else max_bytes
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise SlackImportError(f"{path}: no such file.") from None
        except (zipfile.BadZipFile, OSError, ValueError):
            raise SlackImportError("This is not a ZIP file: upload the .zip of Slack's Export data.") from None
        infos = self.zip.infolist()
        for info in infos:
            if not _safe_name(info.filename):
                self.zip.close()
                raise SlackImportError(f"The ZIP holds a path outside its folder ({info.filename!r}): refused.")
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            self.zip.close()
            raise SlackImportError(
                f"The export unpacks to {total:,} bytes; the limit is {max_bytes:,} (CHAT_IMPORT_MAX_BYTES)."
            )
        self.files = {info.filename: info for info in infos if not info.is_dir()}
        roots = sorted((name for name in self.files if posixpath.basename(name) == "users.json"), key=len)
        if not roots:
            self.zip.close()
            raise SlackImportError("users.json is missing: this is not a Slack export.")
        self.prefix = roots[0][: -len("users.json")]

    def close(self):
        self.zip.close()

    def has(self, name: str) -> bool:
        return self.prefix + name in self.files

    def read_json(self, name: str, *, default=None):
        """The parsed JSON of ``name`` (relative to the export's root); ``default``
        when it is not there. SlackImportError when it is broken or too big."""
        info = self.files.get(self.prefix + name)
        if info is None:
            if default is None:
                raise SlackImportError(f"{name} is missing: this is not a Slack export.")
            return default
        if info.file_size > MAX_JSON_BYTES:
            raise SlackImportError(f"{name} is {info.file_size:,} bytes; a JSON file may be at most {MAX_JSON_BYTES:,}.")
        try:
            with self.zip.open(info) as handle:
                data = handle.read(MAX_JSON_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, zlib.error) as error:
            raise SlackImportError(f"{name} cannot be read from the ZIP: {error}") from None
        if len(data) > MAX_JSON_BYTES:
            raise SlackImportError(f"{name} is larger than {MAX_JSON_BYTES:,} bytes.")
        try:
            value = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as error:
            raise SlackImportError(f"{name} is not valid JSON ({error}).") from None
        if default is not None and not isinstance(value, type(default)):
            raise SlackImportError(f"{name} is not a JSON {'list' if isinstance(default, list) else 'object'}.")
        return value

    def day_files(self, folder: str) -> list[str]:
        start = f"{self.prefix}{folder}/"
        return sorted(
            name[len(self.prefix):]
            for name in self.files
            if name.startswith(start) and "/" not in name[len(start):] and DAY_FILE.match(name[len(start):])
        )

    def find_file(self, folder: str, file: dict):
        """The ZIP entry of a message's file, when the export includes it."""
        file_id, name = str(file.get("id") or ""), posixpath.basename(str(file.get("name") or ""))
        candidates = [
            f"__uploads/{file_id}/{name}",
            f"{folder}/{file_id}/{name}",
            f"{folder}/files/{file_id}/{name}",
            f"files/{file_id}/{name}",
            f"{folder}/{file_id}-{name}",
            f"{folder}/{name}",
        ]
        for candidate in candidates:
            if file_id and name and (info := self.files.get(self.prefix + candidate)) is not None:
                return info
        return None

    def extract(self, info, directory: Path) -> Path:
        """Copy one entry into ``directory`` under a name of ours, counting the
        bytes actually unpacked."""
        target = Path(tempfile.mkstemp(dir=directory)[1])
        written = 0
        with self.zip.open(info) as source, target.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                written += len(chunk)
                if written > info.file_size or written > settings.CHAT_MAX_ATTACHMENT_BYTES + 1:
                    break
                out.write(chunk)
        return target


# --- text -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def emoji_by_shortcode() -> dict[str, str]:
    """``shortcode -> emoji`` from the committed picker data (static/chat/emoji.json)."""
    path = finders.find("chat/emoji.json")
    if not path:
        return {}
    table: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for group in json.load(handle).get("groups", []):
            for entry in group.get("emoji", []):
                for code in entry[2:]:
                    table.setdefault(code, entry[0])
    return table


def emoji_for(name: str) -> str | None:
    """The emoji of a Slack reaction or shortcode name (a skin tone is dropped)."""
    base = name.split("::", 1)[0].strip(":").lower()
    return emoji_by_shortcode().get(base) or emoji_by_shortcode().get(base.replace("-", "_"))


_ANGLE = re.compile(r"<([^<>\n]+)>")
_SHORTCODE = re.compile(r"(?<![\w:]):([a-z0-9_+\-']+)(?:::skin-tone-\d)?:(?![\w])")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def convert_text(text: str, *, usernames: dict, channel_names: dict) -> str:
    """Slack's markup as chatsite's: ``<@U1>`` as ``@username``, ``<#C1|name>``
    as ``#name``, ``<url|label>`` as a Markdown link, ``<!here>`` as ``@here``,
    ``<!channel>`` as ``@room``, known ``:shortcodes:`` as their emoji."""

    def angle(match):
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            user_id = target[1:]
            name = usernames.get(user_id)
            return f"@{name}" if name else f"@{label or user_id}"
        if target.startswith("#"):
            return f"#{channel_names.get(target[1:]) or label or target[1:]}"
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            if special == "here":
                return "@here"
            if special in ("channel", "everyone"):
                return "@room"
            return label or special
        if target.startswith("mailto:"):
            return label or target[len("mailto:"):]
        if _SCHEME.match(target):
            return f"[{label}]({target})" if label and label != target else target
        return match.group(0)

    text = _ANGLE.sub(angle, text or "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return _SHORTCODE.sub(lambda m: emoji_for(m.group(1)) or m.group(0), text)


def slack_time(ts) -> datetime:
    """A Slack ``ts`` ("1700000000.000100") as its exact time."""
    seconds, _, fraction = str(ts).partition(".")
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return datetime.fromtimestamp(int(seconds), tz=UTC) + timedelta(microseconds=micro)


def _ts_key(ts) -> tuple[int, int]:
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds), int((fraction + "000000")[:6]) if fraction else 0


# --- the importer -------------------------------------------------------------------------------
class SlackImporter:
    """One run over one export. ``run()`` returns the report:
    ``{"imported": {kind: n}, "already_imported": {kind: n}, "skipped": {reason: n}, "details": [...]}``."""

    def __init__(self, path, *, company_slug: str, progress=None):
        self.path = path
        self.company_slug = company_slug
        self.progress = progress  # progress(percent): a job's ctx.progress
        self.imported = Counter()
        self.already = Counter()
        self.skipped = Counter()
        self.details: list[str] = []
        self.percent = 0
        self.last_progress = time.monotonic()

    # report
    def skip(self, reason: str, what: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.details) < MAX_DETAILS:
            self.details.append(f"{what}: {reason}" if what else reason)

    def report(self) -> dict:
        return {
            "imported": dict(self.imported),
            "already_imported": dict(self.already),
            "skipped": dict(self.skipped),
            "details": self.details,
        }

    # the map
    def mapped(self, kind: str, external_id: str):
        return (
            ImportedObject.objects.filter(source=SOURCE, workspace=self.team, kind=kind, external_id=external_id)
            .values_list("object_id", flat=True)
            .first()
        )

    def remember(self, kind: str, external_id: str, object_id) -> None:
        ImportedObject.objects.create(
            source=SOURCE, workspace=self.team, kind=kind, external_id=external_id, object_id=str(object_id)
        )

    def run(self) -> dict:
        archive = SlackArchive(self.path)
        try:
            with tempfile.TemporaryDirectory(prefix="slack-import-") as scratch:
                self.scratch = Path(scratch)
                self._run(archive)
        finally:
            archive.close()
        return self.report()

    def _run(self, archive: SlackArchive) -> None:
        users = archive.read_json("users.json", default=[])
        conversations = []
        for name, kind in (("channels.json", "channel"), ("groups.json", "private"), ("dms.json", "dm"), ("mpims.json", "mpim")):
            for entry in archive.read_json(name, default=[]):
                if isinstance(entry, dict) and entry.get("id"):
                    conversations.append((kind, entry))
                else:
                    self.skip("not a conversation object", name)
        self.team = next((str(u["team_id"]) for u in users if isinstance(u, dict) and u.get("team_id")), "") or "export"
        self.company = self._company()
        self.users: dict[str, object] = {}
        self.usernames: dict[str, str] = {}
        for entry in users:
            if isinstance(entry, dict) and entry.get("id"):
                self._user(entry)
            else:
                self.skip("not a user object", "users.json")
        self.channel_names = {str(entry["id"]): str(entry.get("name") or "") for _kind, entry in conversations}
        for number, (kind, entry) in enumerate(conversations):
            self.percent = int(100 * number / max(1, len(conversations)))
            self._conversation(archive, kind, entry)
            self.percent = int(100 * (number + 1) / max(1, len(conversations)))
            self.tick(force=True)

    def tick(self, *, force: bool = False) -> None:
        """Tell the job how far the import got (it also renews the job's lease),
        at most every PROGRESS_SECONDS within a conversation."""
        if self.progress is not None and (force or time.monotonic() - self.last_progress >= PROGRESS_SECONDS):
            self.progress(self.percent)
            self.last_progress = time.monotonic()

    def _company(self) -> Company:
        company = Company.objects.filter(slug=self.company_slug).first()
        if company is None:
            company, _ = Company.objects.get_or_create(slug=self.company_slug, defaults={"name": self.company_slug})
        return company

    # people
    def _user(self, entry: dict) -> None:
        slack_id = str(entry["id"])
        profile = entry.get("profile") or {}
        if entry.get("is_bot") or slack_id == "USLACKBOT" or entry.get("is_app_user"):
            self.skip("bot or app: not a person (its messages are skipped)", f"user {entry.get('name') or slack_id}")
            return
        existing = self.mapped("user", slack_id)
        if existing is not None:
            user = User.objects.filter(pk=existing).first()
            if user is not None:
                self.already["users"] += 1
                self._know(slack_id, user)
                return
        email = str(profile.get("email") or entry.get("email") or "").strip()
        invite = False
        with transaction.atomic():
            if existing is not None:  # mapped to someone deleted since: map again
                ImportedObject.objects.filter(source=SOURCE, workspace=self.team, kind="user", external_id=slack_id).delete()
            user = User.objects.filter(email__iexact=email).first() if email else None
            if user is not None:
                self.imported["users_matched"] += 1
                if user.company_id is None:
                    commands.user_set_company(user=user, company=self.company)
                elif user.company_id != self.company.pk:
                    self.skip("matched an account of another company: left in it", f"user {user.username}")
            else:
                user = account_services.user_create_invited(
                    username=str(entry.get("name") or profile.get("display_name") or slack_id),
                    email=email,
                    display_name=str(profile.get("real_name") or entry.get("real_name") or profile.get("display_name") or ""),
                    company=self.company,
                )
                self.imported["users_created"] += 1
                if entry.get("deleted"):
                    self.skip("deactivated in Slack: imported inactive, not invited", f"user {user.username}")
                elif not email:
                    self.skip("no email: imported inactive, not invited", f"user {user.username}")
                else:
                    invite = True
            self.remember("user", slack_id, user.pk)
        if invite:  # after the commit: a mail server that is down loses no user
            self._invite(user)
        self._know(slack_id, user)

    def _invite(self, user) -> None:
        try:
            invitations.send_invitation(user)
        except Exception as error:  # the mail server: the import goes on, the report says so
            self.skip(f"invitation not sent ({type(error).__name__})", f"user {user.username}")
        else:
            self.imported["invitations"] += 1

    def _know(self, slack_id: str, user) -> None:
        self.users[slack_id] = user
        self.usernames[slack_id] = user.username

    # conversations
    def _conversation(self, archive: SlackArchive, kind: str, entry: dict) -> None:
        slack_id = str(entry["id"])
        label = f"{kind} {entry.get('name') or slack_id}"
        room_id = self.mapped("room", slack_id)
        if room_id is not None:
            self.already["rooms"] += 1
        else:
            try:
                with transaction.atomic():
                    room = self._room(kind, entry)
                    if room is None:
                        return
                    self.remember("room", slack_id, room.pk)
            except ChatError as error:
                self.skip(f"room refused: {error}", label)
                return
            room_id = room.pk
            self.imported[{"channel": "channels", "private": "private_channels", "dm": "direct_rooms", "mpim": "group_dms"}[kind]] += 1
        folder = str(entry.get("name") or slack_id) if kind != "dm" else slack_id
        if not archive.day_files(folder) and kind != "dm" and archive.day_files(slack_id):
            folder = slack_id
        history_until = self._messages(archive, folder, slack_id, room_id)
        commands.room_import_finish(room_id=room_id, history_until=history_until, archived=bool(entry.get("is_archived")))

    def _room(self, kind: str, entry: dict):
        # Two Slack accounts may be one person here (the same email): people, not ids.
        members = list(dict.fromkeys(self.users[str(m)] for m in entry.get("members") or [] if str(m) in self.users))
        label = f"{kind} {entry.get('name') or entry['id']}"
        if kind == "dm":
            if len(members) != 2:
                self.skip("direct messages without two known people (a bot, or oneself)", label)
                return None
            return commands.room_import_direct(user=members[0], other=members[1])
        creator = self.users.get(str(entry.get("creator") or ""))
        if kind == "mpim":
            name = ", ".join(user.name for user in members) or str(entry.get("name") or "Group DM")
        else:
            name = str(entry.get("name") or entry["id"])
        description = ""
        for key in ("purpose", "topic"):
            value = entry.get(key)
            if isinstance(value, dict) and value.get("value"):
                description = str(value["value"])
                break
        return commands.room_import_group(
            company=self.company,
            creator=creator,
            name=name[: settings.CHAT_MAX_ROOM_NAME_LENGTH],
            description=convert_text(description, usernames=self.usernames, channel_names=self.channel_names),
            is_public=kind == "channel",
            members=members,
        )

    # messages
    def _messages(self, archive: SlackArchive, folder: str, channel_id: str, room_id):
        """Import a conversation's messages in time order; the time of the last."""
        # What an earlier run imported of this conversation, in one query.
        self.message_ids = dict(
            ImportedObject.objects.filter(
                source=SOURCE, workspace=self.team, kind="message", external_id__startswith=f"{channel_id}:"
            ).values_list("external_id", "object_id")
        )
        found = []
        for day in archive.day_files(folder):
            try:
                messages = archive.read_json(day, default=[])
            except SlackImportError as error:
                self.skip("broken day file: its messages are not imported", f"{day} ({error})")
                continue
            for message in messages:
                if isinstance(message, dict) and message.get("ts") and re.match(r"^\d+(\.\d+)?$", str(message["ts"])):
                    found.append(message)
                else:
                    self.skip("not a message object", day)
        found.sort(key=lambda m: _ts_key(m["ts"]))
        seen = set()
        for message in found:
            key = f"{channel_id}:{message['ts']}"
            if key in seen:
                self.skip("the same message twice in the export", key)
                continue
            seen.add(key)
            self._message(archive, folder, channel_id, room_id, message, key)
            self.tick()
        return slack_time(found[-1]["ts"]) if found else None

    def _message(self, archive, folder, channel_id, room_id, message: dict, key: str) -> None:
        subtype = message.get("subtype")
        if subtype in ("bot_message",) or (message.get("bot_id") and str(message.get("user") or "") not in self.users):
            self.skip("bot message", key)
            return
        if subtype in NOTICE_SUBTYPES:
            self.skip(f"Slack notice ({subtype})", key)
            return
        if subtype == "tombstone" or message.get("hidden"):
            self.skip("deleted in Slack", key)
            return
        if key in self.message_ids:
            self.already["messages"] += 1
            return
        sender = self.users.get(str(message.get("user") or ""))
        if sender is None:
            self.skip("sender not among the export's people", key)
            return
        thread_id = None
        thread_ts = message.get("thread_ts")
        if thread_ts and str(thread_ts) != str(message["ts"]):
            thread_id = self.message_ids.get(f"{channel_id}:{thread_ts}")
            if thread_id is None:
                self.skip("thread root not in the export: imported as a room message", key)
        text = convert_text(str(message.get("text") or ""), usernames=self.usernames, channel_names=self.channel_names)
        files, missing = [], []
        for file in message.get("files") or []:
            if not isinstance(file, dict):
                continue
            info = archive.find_file(folder, file)
            if info is None:
                self.skip("file not in the export", f"{key} {file.get('name') or file.get('id')}")
                missing.append(str(file.get("name") or file.get("title") or file.get("id") or "file"))
                continue
            if info.file_size > settings.CHAT_MAX_ATTACHMENT_BYTES:
                self.skip("file larger than CHAT_MAX_ATTACHMENT_BYTES", f"{key} {file.get('name')}")
                missing.append(str(file.get("name") or "file"))
                continue
            try:
                files.append((str(file.get("name") or "file"), archive.extract(info, self.scratch)))
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, zlib.error):
                self.skip("file damaged in the ZIP", f"{key} {file.get('name')}")
                missing.append(str(file.get("name") or "file"))
        if not text.strip() and not files and missing:
            text = "_(" + ", ".join(missing) + ": not in the export)_"
        reactions = []
        for reaction in message.get("reactions") or []:
            if not isinstance(reaction, dict):
                continue
            emoji = emoji_for(str(reaction.get("name") or ""))
            if emoji is None:
                self.skip("unknown emoji name (reaction)", f"{key} :{reaction.get('name')}:")
                continue
            for user_id in reaction.get("users") or []:
                user = self.users.get(str(user_id))
                if user is None:
                    self.skip("reaction by someone not among the export's people", f"{key} :{reaction.get('name')}:")
                else:
                    reactions.append((user, emoji))
        edited = message.get("edited")
        edited_at = slack_time(edited["ts"]) if isinstance(edited, dict) and edited.get("ts") else None
        opened = []
        try:
            uploads = []
            for name, path in files:
                handle = path.open("rb")
                opened.append(handle)
                uploads.append((name, File(handle, name=name)))
            with transaction.atomic():
                result = commands.message_import(
                    room_id=room_id,
                    sender=sender,
                    text=text,
                    created_at=slack_time(message["ts"]),
                    thread_id=thread_id,
                    also_in_room=subtype == "thread_broadcast",
                    edited_at=edited_at,
                    files=uploads,
                    reactions=reactions,
                )
                if result.messages:
                    self.remember("message", key, result.messages[0].pk)
                    self.message_ids[key] = str(result.messages[0].pk)
        except ChatError as error:
            self.skip(f"message refused: {error}", key)
            return
        finally:
            for handle in opened:
                handle.close()
            for _name, path in files:
                path.unlink(missing_ok=True)
        for reason, detail in result.skipped:
            self.skip(reason, f"{key} {detail}".strip())
        if not result.messages:
            return
        self.imported["thread_replies" if thread_id else "messages"] += 1
        self.imported["edited"] += int(edited_at is not None)
        self.imported["reactions"] += result.reactions
        self.imported["files"] += result.files


def import_slack(path, *, company_slug: str, progress=None) -> dict:
    """Import the Slack export at ``path`` into ``company_slug`` (created when
    missing); the report. SlackImportError when the export cannot be read."""
    return SlackImporter(path, company_slug=company_slug, progress=progress).run()
