"""Threads: a root message and its replies.

A reply is a message like any other (chat.services.messages sends it, with
``thread`` set); this module keeps what a thread adds: the root's summary
(reply count, last reply, a few participants), announced as a logged
``thread.updated`` event; who follows the thread; and each person's read
position in it.

The summary is recomputed from the replies after the room's seq is
allocated: every writer of a room takes the room row's lock there, so
concurrent replies are summarised one after another and the last summary
always counts them all.
"""

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from chatsite.core.exceptions import Invalid

from .. import selectors
from ..events import broadcast, log, render, wire
from ..models import ChatMember, ChatMessage, MessageType, ThreadFollow
from . import notifications
from .common import allocate_seq

MAX_PARTICIPANTS = 3
RECENT_REPLIES_SCANNED = 50  # for the participants: the latest repliers among the last replies


def require_root(root: ChatMessage, room) -> None:
    """``root`` may carry a thread in ``room``: a message of that room that is
    not itself a reply, nor a system line (a deleted root may)."""
    if root.room_id != room.pk:
        raise selectors.thread_not_found()
    if root.thread_id is not None or root.message_type == MessageType.SYSTEM:
        raise Invalid("Only a message that is not in a thread, nor a system message, can start a thread.", code="not_a_thread_root")


def summary_changed(root: ChatMessage) -> None:
    """Recompute the root's summary (under the room's lock, taken by the seq)
    and log ``thread.updated``."""
    room = root.room
    seq = allocate_seq(room)
    replies = ChatMessage.objects.filter(thread=root, is_deleted=False)
    stats = replies.aggregate(count=Count("pk"), last=Max("created_at"))
    root.thread_reply_count = stats["count"]
    root.thread_last_reply_at = stats["last"]
    participants = []
    for sender_id in replies.order_by("-seq").values_list("sender_id", flat=True)[:RECENT_REPLIES_SCANNED]:
        if sender_id is not None and str(sender_id) not in participants:
            participants.append(str(sender_id))
            if len(participants) == MAX_PARTICIPANTS:
                break
    root.thread_participant_ids = participants
    root.updated_at = timezone.now()
    ChatMessage.objects.filter(pk=root.pk).update(
        thread_reply_count=root.thread_reply_count,
        thread_last_reply_at=root.thread_last_reply_at,
        thread_participant_ids=participants,
        updated_at=root.updated_at,
    )
    log.append(
        room=room,
        seq=seq,
        kind=wire.THREAD_UPDATED,
        body={"thread": str(root.pk), "summary": render.thread_summary(root)},
    )


def reply_added(reply: ChatMessage, mentioned_ids) -> set:
    """After a reply is stored: the summary, and who follows the thread now
    (the root's author, whoever replies, whoever a reply mentions). The
    replier has read the thread up to their own reply. Returns the ids of the
    thread's followers other than the replier (to notify)."""
    root = reply.thread
    summary_changed(root)
    ensure_following(root, [root.sender_id, *mentioned_ids], read_to=None)
    # The replier follows (again) and has read up to their reply, the newest seq: one upsert.
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(user_id=reply.sender_id, root=root, room_id=root.room_id, following=True, last_read_seq=reply.seq)],
        update_conflicts=True,
        unique_fields=["user", "root"],
        update_fields=["following", "last_read_seq", "updated_at"],
    )
    return set(
        str(user_id)
        for user_id in ThreadFollow.objects.filter(root=root, following=True)
        .exclude(user_id=reply.sender_id)
        .values_list("user_id", flat=True)
    )


def ensure_following(root: ChatMessage, user_ids, *, read_to: int | None) -> None:
    """The automatic follow: rows for people who have none, and following for
    those who only read the thread so far; an explicit unfollow stays."""
    ids = list(dict.fromkeys(str(u) for u in user_ids if u is not None))
    if not ids:
        return
    ThreadFollow.objects.bulk_create(
        [ThreadFollow(user_id=user_id, root=root, room_id=root.room_id, last_read_seq=read_to or 0) for user_id in ids],
        ignore_conflicts=True,
    )
    ThreadFollow.objects.filter(root=root, user_id__in=ids, following__isnull=True).update(following=True, updated_at=timezone.now())


@transaction.atomic(savepoint=False)
def thread_follow(*, root: ChatMessage, user, following: bool) -> ThreadFollow:
    """Follow or unfollow (the read position is kept either way)."""
    try:
        with transaction.atomic():
            follow, created = ThreadFollow.objects.get_or_create(
                user=user, root=root, defaults={"room_id": root.room_id, "following": following}
            )
    except IntegrityError:  # a concurrent twin created it
        follow, created = ThreadFollow.objects.get(user=user, root=root), False
    if not created and follow.following != following:
        follow.following = following
        follow.save(update_fields=["following", "updated_at"])
    if not following:
        notifications.cancel_thread(user=user, root=root)
    return follow


@transaction.atomic(savepoint=False)
def thread_mark_read(*, member: ChatMember, root: ChatMessage, seq: int) -> dict:
    """Move the person's read position in the thread forward to ``seq`` (never
    back, never past the room); every socket of theirs hears ``thread.read``."""
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise Invalid("seq must be a non-negative integer.", code="invalid_seq", fields={"seq": ["Non-negative integer."]})
    target = min(seq, member.room.seq)
    follow, _ = ThreadFollow.objects.get_or_create(
        user_id=member.user_id, root=root, defaults={"room_id": root.room_id, "following": None}
    )
    moved = target > follow.last_read_seq
    if moved:
        ThreadFollow.objects.filter(pk=follow.pk, last_read_seq__lt=target).update(last_read_seq=target, updated_at=timezone.now())
        follow.last_read_seq = target
        notifications.cancel_thread(user=member.user, root=root, through=target)
    state = {
        "room": str(root.room_id),
        "thread": str(root.pk),
        "last_read_seq": follow.last_read_seq,
        "unread_count": selectors.thread_unread_count(root=root, user=member.user_id, after=follow.last_read_seq),
    }
    if moved:
        broadcast.to_user(member.user_id, {"type": wire.THREAD_READ, **state})
    return state
