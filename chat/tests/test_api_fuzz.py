"""The REST API against its own OpenAPI schema: schemathesis in-process.

Every operation of ``/api/schema/`` is called with generated input (valid and
invalid, with a fixed seed), authenticated as a member of real rooms, and every
response must be documented: no 500, a declared status code, content type and
body shape. Path parameters (and ids in bodies and queries) are often the real
ids of the fixture's rooms, messages, users and attachment, so the fuzzer gets
past the 404s and into the services.
"""

import hashlib
import io
import json
import re

import pytest
import schemathesis
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chat import commands
from chat.models import Role
from chat.services import attachments, members, rooms
from chat.tests.factories import group_room, send
from chatsite.wsgi import application

SEED = 20240603
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Which real objects an id names: path parameters, query and body fields.
ID_KINDS = {
    ("/api/rooms/", "id"): "room",
    ("/api/messages/", "id"): "message",
    ("/api/attachments/", "id"): "attachment",
}
NAMED_KINDS = {
    "room_pk": "room",
    "room": "room",
    "user_id": "user",
    "member_ids": "user",
    "reply_to": "message",
    "attachment_id": "attachment",
    "avatar_id": "attachment",
}
ID_PATTERN = re.compile("[0-9a-fA-F-]{32,36}")


def png_upload(name="pixel.png"):
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


@pytest.fixture
def world(make_user, settings):
    """Alice owns a group with Bob (admin) and Carol, is a plain member of Bob's
    group and has a direct room with Bob. Bob's public group and Olga's room
    (another company) are hidden from her. Messages: a reply, an edit, a
    reaction, an image; Alice also has an upload not posted yet. Rate limits
    are off: the fuzzer sends far more than a person would."""
    settings.CHAT_RATE_LIMITS_ENABLED = False
    alice = make_user(username="alice", display_name="Alice")
    bob = make_user(username="bob", display_name="Bob")
    carol = make_user(username="carol", display_name="Carol")
    olga = make_user(username="olga", display_name="Olga", company=None)
    team = group_room(alice, bob, carol, name="Team")
    members.room_member_change_role(room=team, actor=alice, member=team.members.get(user=bob), role=Role.ADMIN)
    bobs = group_room(bob, alice, name="Bob's")
    lobby = group_room(bob, name="Lobby", is_public=True)
    direct, _created = rooms.room_get_or_create_direct(user=alice, other=bob)
    elsewhere = group_room(olga, name="Elsewhere")
    hello = send(team, alice, "hello team", client_msg_id="fuzz-1")
    reply = send(team, bob, "hi alice", reply_to=hello)
    commands.message_edit(actor=bob, message_id=reply.pk, content="hi Alice!")
    commands.reaction_add(actor=bob, message_id=hello.pk, reaction="👍")
    image = attachments.attachment_create(uploader=alice, upload=png_upload(), room=team)
    picture = send(team, alice, "a picture", attachment=image)
    unposted = attachments.attachment_create(uploader=alice, upload=png_upload("mine.png"))
    olgas = attachments.attachment_create(uploader=olga, upload=png_upload("olga.png"))

    def ids(*objects):
        return [str(obj.pk) for obj in objects]

    return {
        "alice": alice,
        "visible": {
            "room": ids(team, bobs, direct),
            "message": ids(hello, reply, picture, send(bobs, bob, "in Bob's"), send(direct, bob, "psst")),
            "user": ids(bob, carol, alice),
            "attachment": ids(image, unposted),
        },
        "hidden": {
            "room": ids(lobby, elsewhere),
            "message": ids(send(elsewhere, olga, "not for Alice")),
            "user": ids(olga),
            "attachment": ids(olgas),
        },
    }


def id_kind(path: str, name: str) -> str | None:
    for (prefix, parameter), kind in ID_KINDS.items():
        if name == parameter and path.startswith(prefix):
            return kind
    return NAMED_KINDS.get(name)


def looks_like_an_id(value) -> bool:
    """A UUID, or what the schema's path pattern for ids accepts."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def pick(world, kind: str, generated: str, number: int) -> str:
    """Mostly an object Alice sees, sometimes one hidden from her, sometimes the generated id."""
    slot, number = number % 8, number // 8
    if slot == 0:
        return generated
    pool = world["hidden"][kind] if slot == 1 else world["visible"][kind]
    return pool[number % len(pool)]


def stable_number(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big")


def aim_at_real_objects(case, world) -> None:
    """Swap well-formed generated ids for ids of the world's objects.

    The choice is a function of the generated case (no random source of its
    own), so Hypothesis replays exactly the same request when it shrinks a
    failure. Malformed ids are left alone: they test the validation.
    """
    # Not repr(): some generated values are objects whose repr holds a memory address.
    generated = json.dumps([case.path_parameters, case.query, case.body], default=lambda value: type(value).__name__)
    path = case.operation.path
    for container in (case.path_parameters, case.query, case.body):
        if not isinstance(container, dict):
            continue
        for name, value in list(container.items()):
            kind = id_kind(path, name)
            if kind is None:
                continue
            if isinstance(value, list):
                container[name] = [
                    pick(world, kind, item, stable_number(generated, name, index)) if looks_like_an_id(item) else item
                    for index, item in enumerate(value)
                ]
            elif looks_like_an_id(value):
                container[name] = pick(world, kind, value, stable_number(generated, name))


# Loaded in-process from the running application, as a client would fetch it.
schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", application, config=schemathesis.Config.from_dict({"seed": SEED})
)


@pytest.mark.django_db(transaction=True)
@hypothesis_settings(
    max_examples=20,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@schema.parametrize()
def test_every_operation_answers_as_documented(case, world):
    """No 500, and status, content type, headers and body as the schema says."""
    aim_at_real_objects(case, world)
    token = RefreshToken.for_user(world["alice"]).access_token
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@pytest.mark.django_db
def test_schema_is_valid_openapi_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    assert "/api/rooms/{id}/events/" in target.read_text()


@pytest.mark.django_db
def test_schema_and_interactive_docs_are_served(client):
    schema_response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema_response.status_code == 200
    assert schema_response.json()["info"]["title"] == "chatsite API"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # Everything the page loads is served here (no CDN), under a policy without inline scripts.
    assert "script-src 'self';" in docs["Content-Security-Policy"]
    sources = re.findall(rb'(?:src|href)="([^"]+)"', docs.content)
    assert sources and all(source.startswith(b"/") for source in sources), sources
    for source in (source.decode().replace("&amp;", "&") for source in sources):
        if source.startswith(settings.STATIC_URL):  # served by whitenoise after collectstatic
            assert finders.find(source.removeprefix(settings.STATIC_URL)), source
        else:
            assert client.get(source).status_code == 200, source


@pytest.mark.django_db
def test_every_operation_with_a_body_documents_413_and_415(client):
    """Any body can be too large or of a type the API does not parse; the fuzzer
    sent a raw multipart body with no Content-Type and got an undocumented 415."""
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    missing = [
        f"{method.upper()} {path}: {sorted({'413', '415'} - set(operation['responses']))}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if "requestBody" in operation and not {"413", "415"} <= set(operation["responses"])
    ]
    assert not missing
    response = client.post(
        "/api/auth/token/", data="username=alice", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


# --- Free-form JSON, deeper than the schema can say --------------------------
# The schema only says "an object" for extra_metadata, so schemathesis rarely
# sends what broke it: these build the raw JSON text themselves.
awkward_strings = st.text(alphabet=st.sampled_from(["a", " ", "é", "\x00", "\ud800", "\udfff", "\u2028", "😀"]), max_size=6)
json_scalars = st.one_of(
    st.sampled_from(["null", "true", "1e999", "-1e999", "1e-999", "1e308", "123456789012345678901234567890"]),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(json.dumps),
    awkward_strings.map(json.dumps),
)
json_texts = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(st.tuples(awkward_strings, children), max_size=3).map(
            lambda pairs: "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in pairs) + "}"
        ),
    ),
    max_leaves=8,
)
DEEP = "[" * 5000 + "]" * 5000
ALMOST_TOO_DEEP_TO_PARSE = "[" * 900 + "]" * 900


@pytest.fixture
def alices_team(make_user, settings):
    settings.CHAT_RATE_LIMITS_ENABLED = False
    alice = make_user(username="alice", display_name="Alice")
    return alice, group_room(alice, make_user(username="bob"), name="Team")


def assert_json_error_or_success(response, success):
    assert response.status_code in (success, 400), response.content[:300]
    if response.status_code == 400:
        body = response.json()
        assert body["code"] in ("invalid", "parse_error", "extra_metadata_too_large") and body["detail"]


@pytest.mark.django_db(transaction=True)
@hypothesis_settings(max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@example(value=DEEP)
@example(value=ALMOST_TOO_DEEP_TO_PARSE)
@example(value='"a\\u0000b"')
@example(value='{"\\ud800": 1}')
@example(value="1e999")
@given(value=json_texts)
def test_any_json_in_extra_metadata_is_stored_or_refused_never_a_500(value, alices_team, client):
    alice, team = alices_team
    client.raise_request_exception = False
    client.force_login(alice)
    sent = client.post(
        f"/api/rooms/{team.pk}/messages/",
        data='{"content": "hi", "extra_metadata": {"k": ' + value + "}}",
        content_type="application/json",
    )
    assert_json_error_or_success(sent, 201)
    updated = client.patch(
        f"/api/rooms/{team.pk}/", data='{"extra_metadata": {"k": ' + value + "}}", content_type="application/json"
    )
    assert_json_error_or_success(updated, 200)
    # What was stored can be read back.
    assert client.get(f"/api/rooms/{team.pk}/messages/").status_code == 200
    assert client.get(f"/api/rooms/{team.pk}/events/?after=0").status_code == 200


# --- Regressions: bugs found while fuzzing -------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url, method", [("/api/auth/register/", "post"), ("/api/auth/me/", "patch")])
def test_an_email_longer_than_the_column_is_refused(url, method, make_user, client):
    client.force_login(make_user(username="alice"))
    response = getattr(client, method)(
        url,
        data={"username": "newcomer", "password": "correct horse battery staple", "email": "a" * 250 + "@example.com"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["email"] == ["Ensure this field has no more than 254 characters."]


@pytest.mark.django_db
def test_logout_without_refresh_token_is_refused_even_with_a_stale_session_cookie(make_user, client):
    alice = make_user(username="alice")
    refresh = RefreshToken.for_user(alice)
    client.cookies["sessionid"] = "stale-or-forged-session-key"
    response = client.post(
        "/api/auth/logout/", data={}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "refresh_required"
    assert client.post("/api/auth/token/refresh/", data={"refresh": str(refresh)}).status_code == 200


@pytest.mark.django_db
def test_logout_of_a_browser_session_needs_no_refresh_token(make_user, client):
    client.force_login(make_user(username="alice"))
    assert client.post("/api/auth/logout/", data={}, content_type="application/json").status_code == 204
    assert client.get("/api/auth/me/").status_code == 401
