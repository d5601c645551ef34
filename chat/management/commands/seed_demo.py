"""Demo data for a fresh install: the company Acme, five people and one room of each type.

Idempotent: a second run finds everything it made and creates nothing. Rooms,
memberships and messages are made through chat's commands, exactly as the
product makes them, so every room has its event log and search index; messages
carry stable ``client_msg_id`` values ("seed-<n>"), which makes a resend a no-op.
The commands' rate limits apply (a seed stays far below them; a refusal ends
the seed like any other, with nothing saved).

The whole seed is one transaction: Ctrl-C leaves the database as it was (and no
password is lost, because passwords are printed only after the commit).
"""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Company
from chat import commands
from chat.models import ChatMember, ChatRoom, RoomType
from chatsite.core.exceptions import ChatError

User = get_user_model()

COMPANY_SLUG = "acme"
COMPANY_NAME = "Acme"
GENERAL_ROOM = "Acme — General"
FALCON_ROOM = "Project Falcon"
RANDOM_ROOM = "Random"
SITE_URL = "http://127.0.0.1:8000/"  # make run passes the address it serves on (--site-url)
UNCHANGED = "unchanged; use --reset-passwords"


@dataclass(frozen=True)
class DemoUser:
    username: str
    display_name: str
    role: str
    in_company: bool = True
    is_support_agent: bool = False
    is_superuser: bool = False


DEMO_USERS = (
    DemoUser("alice", "Alice Anders", "member"),
    DemoUser("bob", "Bob Brown", "member"),
    DemoUser("carol", "Carol Chen", "member"),
    DemoUser("dave", "Dave Diaz", "support agent", is_support_agent=True),
    DemoUser("admin", "Site Admin", "superuser", in_company=False, is_superuser=True),
)

# (room key, sender, text). The position in this list is the message's
# client_msg_id ("seed-<n>"), so never reorder it: append only.
DEMO_MESSAGES = (
    ("general", "alice", "Welcome to Acme — General! This room has everyone in the company."),
    ("general", "bob", "Morning everyone."),
    ("general", "carol", "Hi all, the coffee machine on floor 2 is fixed."),
    ("falcon", "alice", "Kick-off for Project Falcon is on Monday at 10:00."),
    ("falcon", "bob", "I'll prepare the timeline before then."),
    ("falcon", "carol", "Design notes are coming later today."),
    ("random", "bob", "Anyone up for lunch at the new ramen place?"),
    ("random", "alice", "Count me in."),
    ("random", "carol", "Me too, 12:30?"),
    ("direct", "alice", "Hey Bob, do you have a minute for the Falcon budget?"),
    ("direct", "bob", "Sure, call me after lunch."),
    ("support", "carol", "Hi, I cannot upload files larger than 10 MB. Is that expected?"),
    ("support", "dave", "Hi Carol, yes: 10 MB is the current limit. Could you compress the file?"),
    ("support", "carol", "That worked, thanks!"),
)


class Command(BaseCommand):
    help = (
        "Create (idempotently) the demo company Acme, users alice, bob, carol, dave (support agent) "
        "and admin (superuser), and one room of each type with a few messages."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="Give the demo users that already exist a new random password (printed).",
        )
        parser.add_argument(
            "--site-url",
            default=SITE_URL,
            help=f"The address the server answers on, for the closing lines ({SITE_URL}).",
        )

    def handle(self, *args, reset_passwords: bool = False, site_url: str = SITE_URL, **options):
        try:
            with transaction.atomic():
                passwords = self._seed(reset_passwords=reset_passwords)
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted: nothing was saved (the seed runs in one transaction). Run it again."
            ) from None
        except ChatError as exc:
            raise CommandError(f"A service refused the seed ({exc.code}): {exc.detail}") from exc
        self._print_passwords(passwords)
        self.stdout.write("")
        site_url = site_url.rstrip("/") + "/"
        self.stdout.write(f"Open {site_url} and sign in as one of the users above.")
        self.stdout.write(f"Django admin: {site_url}admin/ (user admin).")
        self.stdout.flush()

    # --- steps -------------------------------------------------------------

    def _seed(self, *, reset_passwords: bool) -> list[tuple[DemoUser, str]]:
        company = self._company()
        users, passwords = {}, []
        for spec in DEMO_USERS:
            user, password = self._user(spec, company, reset_passwords=reset_passwords)
            users[spec.username] = user
            passwords.append((spec, password))
        rooms = self._rooms(company, users)
        self._messages(rooms, users)
        return passwords

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _company(self) -> Company:
        company, created = Company.objects.get_or_create(slug=COMPANY_SLUG, defaults={"name": COMPANY_NAME})
        if not company.is_active:
            raise CommandError(f"The company {company.slug!r} exists but is inactive; reactivate it first.")
        self._say(f"company {company.name}: {'created' if created else 'exists'}")
        return company

    def _user(self, spec: DemoUser, company: Company, *, reset_passwords: bool) -> tuple:
        user = User.objects.filter(username=spec.username).first()
        if user is None:
            password = secrets.token_urlsafe(9)
            user = User.objects.create_user(
                username=spec.username,
                email=f"{spec.username}@acme.example",
                password=password,
                display_name=spec.display_name,
                is_support_agent=spec.is_support_agent,
                is_staff=spec.is_superuser,
                is_superuser=spec.is_superuser,
            )
            self._say(f"user {spec.username}: created")
        else:
            password, changed = self._update(spec, user, reset_passwords=reset_passwords)
            self._say(f"user {spec.username}: exists" + (f" (updated {', '.join(changed)})" if changed else ""))
        if spec.in_company and user.company_id != company.pk:
            commands.user_set_company(user=user, company=company)
        return user, password

    def _update(self, spec: DemoUser, user, *, reset_passwords: bool) -> tuple[str, list[str]]:
        """What the demo needs of an existing user (dave answers support, admin can
        moderate, everyone can sign in): ``(password, the fields changed)``."""
        password, changed = UNCHANGED, []
        if spec.is_superuser and not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            changed += ["is_staff", "is_superuser"]
        if not user.display_name:
            user.display_name = spec.display_name
            changed.append("display_name")
        if reset_passwords:
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            changed.append("password")
        if changed:
            user.save(update_fields=changed + ["updated_at"])
        # Support and activity reach into chat (support rooms, sockets): chat's commands change them.
        if spec.is_support_agent and not user.is_support_agent:
            commands.user_set_support_agent(user=user, is_support_agent=True)
            changed.append("is_support_agent")
        if not user.is_active:
            commands.user_set_active(user=user, is_active=True)
            changed.append("is_active")
        return password, changed

    def _rooms(self, company: Company, users: dict) -> dict:
        alice, bob, carol = users["alice"], users["bob"], users["carol"]
        rooms = {}

        general = ChatRoom.objects.filter(room_type=RoomType.COMPANY, company=company, name=GENERAL_ROOM).first()
        created = general is None
        if created:
            general = commands.room_create_company(actor=alice, company=company, name=GENERAL_ROOM)
        rooms["general"] = self._room_done(general, created)

        rooms["falcon"] = self._room_done(
            *self._group(
                company,
                alice,
                name=FALCON_ROOM,
                description="Private group for the Falcon project.",
                members=(bob, carol),
            )
        )

        random_room, created = self._group(company, bob, name=RANDOM_ROOM, description="Anything goes.", is_public=True)
        for user in (alice, carol):
            # Joining is how people get into a public group; a member already in it is left as is.
            if not ChatMember.objects.filter(room=random_room, user=user, is_active=True).exists():
                commands.room_join(actor=user, room_id=random_room.pk)
        rooms["random"] = self._room_done(random_room, created)

        direct, created = commands.room_get_or_create_direct(actor=alice, user_id=bob.pk)
        rooms["direct"] = self._room_done(direct, created, label="direct alice–bob")

        rooms["support"] = self._room_done(*commands.room_open_support(actor=carol))
        return rooms

    def _group(
        self, company: Company, creator, *, name: str, description: str, is_public: bool = False, members=()
    ) -> tuple[ChatRoom, bool]:
        """The company's group of that name and publicity, made by ``creator`` if missing:
        ``(room, created)``. (A public group belongs to its creator's company.)"""
        room = ChatRoom.objects.filter(
            room_type=RoomType.GROUP, company=company, name=name, is_public=is_public
        ).first()
        if room is not None:
            return room, False
        room = commands.room_create_group(
            actor=creator,
            name=name,
            description=description,
            member_ids=[member.pk for member in members],
            is_public=is_public,
        )
        return room, True

    def _room_done(self, room: ChatRoom, created: bool, *, label: str | None = None) -> ChatRoom:
        self._say(f"room {label or room.name} ({room.room_type}): {'created' if created else 'exists'}")
        return room

    def _messages(self, rooms: dict, users: dict) -> None:
        created_count = 0
        for number, (room_key, username, text) in enumerate(DEMO_MESSAGES, start=1):
            result = commands.message_send(
                actor=users[username], room_id=rooms[room_key].pk, content=text, client_msg_id=f"seed-{number}"
            )
            created_count += result.created
        self._say(f"messages: {created_count} created, {len(DEMO_MESSAGES) - created_count} already there")

    def _print_passwords(self, passwords: list[tuple[DemoUser, str]]) -> None:
        width_user = max(len("username"), *(len(spec.username) for spec, _ in passwords))
        width_password = max(len("password"), *(len(password) for _, password in passwords))
        self.stdout.write("")
        self.stdout.write(f"{'username':<{width_user}}  {'password':<{width_password}}  role")
        self.stdout.write(f"{'-' * width_user}  {'-' * width_password}  ----")
        for spec, password in passwords:
            self.stdout.write(f"{spec.username:<{width_user}}  {password:<{width_password}}  {spec.role}")
