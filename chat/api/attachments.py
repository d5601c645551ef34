"""Files: upload (checked by content) and download (members only)."""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from chat import commands, selectors
from chat.events import render
from chat.models import (
    ATTACHMENT_FILE_TYPES,
    ATTACHMENT_IMAGE_TYPES,
    ATTACHMENT_TEXT_TYPE,
)
from chatsite.core.exceptions import NotFound

from . import serializers as s
from .common import body_errors, errors, parse

# A download answers with the content type detected at upload: one of the allowlist.
DOWNLOAD_TYPES = sorted(ATTACHMENT_IMAGE_TYPES | ATTACHMENT_FILE_TYPES | {ATTACHMENT_TEXT_TYPE})


class AttachmentViewSet(viewsets.ViewSet):
    lookup_value_regex = "[0-9a-fA-F-]{32,36}"

    @extend_schema(
        summary="Upload a file (multipart, field 'file')",
        request={"multipart/form-data": s.UploadInputSerializer},
        responses={201: s.AttachmentSerializer, **body_errors(403)},
    )
    def create(self, request):
        data = parse(s.UploadInputSerializer, request.data)
        attachment = commands.attachment_create(
            actor=request.user, upload=data["file"], room_id=data.get("room"), keep_original=data["keep_original"]
        )
        return Response(render.attachment_payload(attachment), status=201)

    @extend_schema(
        summary="Download (members of a room it was posted in), served with the type detected at upload",
        responses={**{(200, content_type): OpenApiTypes.BINARY for content_type in DOWNLOAD_TYPES}, **errors()},
    )
    def retrieve(self, request, pk=None):
        attachment = selectors.attachment_for_user(attachment_id=pk, user=request.user)
        response = FileResponse(
            attachment.file.open("rb"),
            as_attachment=not attachment.is_image,
            filename=attachment.original_name,
            content_type=attachment.content_type,
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["Cache-Control"] = "private, max-age=3600"
        return response

    @extend_schema(
        summary="A thumbnail (small: 320 px, large: 1280 px on the long side), to the same people as the file",
        responses={(200, "image/webp"): OpenApiTypes.BINARY, **errors()},
    )
    @action(detail=True, methods=["get"], url_path="preview/(?P<size>small|large)", url_name="preview")
    def preview(self, request, pk=None, size=None):
        attachment = selectors.attachment_for_user(attachment_id=pk, user=request.user)
        if not attachment.has_previews:
            raise NotFound("This file has no preview.", code="preview_not_found")
        response = FileResponse(getattr(attachment, f"preview_{size}").open("rb"), content_type="image/webp")
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        # A preview never changes once made (a new one would be a new file);
        # private: only this person's browser keeps it.
        response["Cache-Control"] = "private, max-age=31536000, immutable"
        return response
