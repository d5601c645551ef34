"""End to end over HTTP: people register, open every kind of room, talk, edit,
delete, react, read, search, upload and download, all through the REST API with JWTs.

Company rooms are made by staff (the API has no endpoint for them), so the
commands create that one; everything else is a request.
"""

from rest_framework.test import APIClient

from accounts import tickets
from accounts.models import Company, User
from chat import commands
from chat.tests.api_helpers import assert_error, jwt_client, png_bytes, upload

PASSWORDS = {"anna": "anna's long passphrase 1", "ben": "ben's long passphrase 2", "cleo": "cleo's long passphrase 3"}


def register(username):
    response = APIClient().post(
        "/api/auth/register/",
        {"username": username, "password": PASSWORDS[username], "display_name": username.title()},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()["user"]


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, getattr(response, "content", b"")[:500])
    return response.json() if status != 204 else None


def test_a_whole_conversation_over_http(db, make_user):
    # Three people register and log in.
    users = {name: register(name) for name in PASSWORDS}
    anna, _ = jwt_client("anna", PASSWORDS["anna"])
    ben, _ = jwt_client("ben", PASSWORDS["ben"])
    cleo, cleo_tokens = jwt_client("cleo", PASSWORDS["cleo"])
    assert ok(anna.get("/api/auth/me/"))["username"] == "anna"
    # Strangers with no company and no shared room do not see one another.
    assert ok(anna.get("/api/users/", {"q": "ben"})) == []

    # A group room.
    group = ok(anna.post("/api/rooms/", {"name": "Project", "member_ids": [users["ben"]["id"]]}, format="json"), 201)
    assert (group["room_type"], group["my_role"], group["member_count"]) == ("group", "owner", 2)
    assert [u["username"] for u in ok(anna.get("/api/users/", {"q": "ben"}))] == ["ben"]
    assert_error(cleo.get(f"/api/rooms/{group['id']}/"), 404, "room_not_found")
    ok(anna.post(f"/api/rooms/{group['id']}/members/", {"user_id": users["cleo"]["id"]}, format="json"), 201)

    # A direct room: created once, found again from either side.
    direct = ok(anna.post("/api/rooms/direct/", {"user_id": users["ben"]["id"]}, format="json"), 201)
    assert ok(ben.post("/api/rooms/direct/", {"user_id": users["anna"]["id"]}, format="json"))["id"] == direct["id"]

    # A support room, answered by an agent (staff make agents).
    make_user(username="agent", display_name="Agent", company=None, is_support_agent=True)
    agent, _ = jwt_client("agent")
    support = ok(cleo.post("/api/rooms/support/"), 201)
    assert ok(agent.get("/api/rooms/", {"type": "support"}))[0]["id"] == support["id"]
    ok(agent.post(f"/api/rooms/{support['id']}/messages/", {"content": "How can I help?"}, format="json"), 201)
    assert ok(cleo.get(f"/api/rooms/{support['id']}/"))["unread_count"] == 1

    # A company room, made by staff; its members see it like any other.
    acme = Company.objects.create(name="Acme", slug="acme")
    for name in ("anna", "ben"):
        commands.user_set_company(user=User.objects.get(username=name), company=acme)
    staff = make_user(username="staff", company=acme)
    company_room = commands.room_create_company(actor=staff, company=acme, name="All hands")
    assert [r["id"] for r in ok(ben.get("/api/rooms/", {"type": "company"}))] == [str(company_room.pk)]
    ok(ben.post(f"/api/rooms/{company_room.pk}/messages/", {"content": "hello company"}, format="json"), 201)

    # Talk in the group: a send with a retry, a reply, an edit, a reaction, a delete.
    messages = f"/api/rooms/{group['id']}/messages/"
    hello = ok(anna.post(messages, {"content": "Kickoff agenda draft", "client_msg_id": "anna-1"}, format="json"), 201)
    assert (
        ok(anna.post(messages, {"content": "Kickoff agenda draft", "client_msg_id": "anna-1"}, format="json"))["id"]
        == hello["id"]
    )
    reply = ok(ben.post(messages, {"content": "Looks good", "reply_to": hello["id"]}, format="json"), 201)
    assert reply["reply_to"]["id"] == hello["id"]
    edited = ok(anna.patch(f"/api/messages/{hello['id']}/", {"content": "Kickoff agenda final"}, format="json"))
    assert edited["is_edited"] and edited["content"] == "Kickoff agenda final"
    assert [h["content"] for h in ok(ben.get(f"/api/messages/{hello['id']}/history/"))] == ["Kickoff agenda draft"]
    ok(ben.post(f"/api/messages/{hello['id']}/reactions/", {"reaction": "🎉"}, format="json"), 201)
    counts = ok(anna.get(f"/api/messages/{hello['id']}/reactions/"))
    assert [(c["reaction"], c["count"], c["me"]) for c in counts] == [("🎉", 1, False)]
    oops = ok(cleo.post(messages, {"content": "wrong room, sorry"}, format="json"), 201)
    assert ok(cleo.delete(f"/api/messages/{oops['id']}/"))["content"] is None
    assert_error(cleo.delete(f"/api/messages/{reply['id']}/"), 403, "not_sender")
    forwarded = ok(anna.post(f"/api/messages/{reply['id']}/forward/", {"room": direct["id"]}, format="json"), 201)
    assert forwarded["forwarded_from"] == reply["id"]

    # An image: uploaded, posted, downloaded by a member, hidden from others.
    image = png_bytes(12, 8)
    attachment = ok(
        anna.post("/api/attachments/", {"file": upload("plan.png", image), "room": group["id"]}, format="multipart"),
        201,
    )
    assert (attachment["width"], attachment["height"]) == (12, 8)
    posted = ok(anna.post(messages, {"attachment_id": attachment["id"], "content": "the plan"}, format="json"), 201)
    assert posted["message_type"] == "image"
    downloaded = ben.get(attachment["url"])
    assert downloaded.status_code == 200 and b"".join(downloaded.streaming_content) == image
    assert downloaded["X-Content-Type-Options"] == "nosniff"
    assert_error(agent.get(attachment["url"]), 404, "attachment_not_found")

    # History as Ben sees it, and his unread count until he reads.
    history = ok(ben.get(messages, {"limit": 100}))
    by_id = {m["id"]: m for m in history}
    assert by_id[hello["id"]]["content"] == "Kickoff agenda final"
    assert by_id[hello["id"]]["reactions"][0]["reaction"] == "🎉"
    assert by_id[oops["id"]]["is_deleted"] and by_id[oops["id"]]["content"] is None
    listed = {r["id"]: r for r in ok(ben.get("/api/rooms/"))}
    assert listed[group["id"]]["unread_count"] > 0
    assert listed[group["id"]]["last_message"]["id"] == posted["id"]
    read = ok(ben.post(f"/api/rooms/{group['id']}/read/", {"seq": history[-1]["seq"]}, format="json"))
    assert read["unread_count"] == 0
    assert {r["id"]: r for r in ok(ben.get("/api/rooms/"))}[group["id"]]["unread_count"] == 0

    # Search over encrypted content: my rooms only; edits and deletes followed.
    found = ok(ben.get("/api/search/", {"q": "kickoff FINAL"}))
    assert [m["id"] for m in found] == [hello["id"]]
    assert ok(ben.get("/api/search/", {"q": "draft"})) == []
    assert ok(ben.get("/api/search/", {"q": "sorry"})) == []
    assert ok(agent.get("/api/search/", {"q": "kickoff"})) == []

    # Resuming over HTTP: every event of the group, gap-free, in order.
    replay = ok(ben.get(f"/api/rooms/{group['id']}/events/", {"after": 0}))
    assert [e["seq"] for e in replay["events"]] == list(range(1, replay["seq"] + 1))
    kinds = [e["type"] for e in replay["events"]]
    for kind in ("member.added", "message.created", "message.updated", "message.deleted", "reaction.added"):
        assert kind in kinds

    # A WebSocket ticket, then logging out ends the refresh token.
    ticket = ok(cleo.post("/api/auth/ws-ticket/"), 201)["ticket"]
    assert tickets.consume(ticket) == users["cleo"]["id"]
    assert cleo.post("/api/auth/logout/", {"refresh": cleo_tokens["refresh"]}, format="json").status_code == 204
    assert_error(APIClient().post("/api/auth/token/refresh/", {"refresh": cleo_tokens["refresh"]}, format="json"), 401)
