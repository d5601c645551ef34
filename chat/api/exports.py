"""Exports over REST: start a room's or my own (the worker makes the ZIP),
follow its progress, download it (only the person who asked, within
CHAT_EXPORT_HOURS), cancel it. Formats: docs/data.md."""

from django.http import FileResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import commands, selectors
from chat.exports.writer import result_path
from chat.models import EXPORT_JOB_KINDS
from chatsite.core.exceptions import Gone, NotFound
from chatsite.core.models import JobState

from .common import body_errors, errors, parse


class ExportStartSerializer(serializers.Serializer):
    attachments_bytes = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="Include attachments (uploads) up to this many bytes in all; 0: none."
    )


class ExportSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=EXPORT_JOB_KINDS)
    room = serializers.UUIDField(allow_null=True)
    state = serializers.ChoiceField(choices=JobState.choices)
    progress = serializers.IntegerField(help_text="0–100")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="After this, the file is deleted.")
    download = serializers.CharField(allow_null=True, help_text="The file, while it is there (only for you).")
    name = serializers.CharField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)

    def to_representation(self, job):
        available = job.state == JobState.DONE and job.expires_at and job.expires_at > timezone.now() and not job.result.get("expired")
        return {
            "id": str(job.pk),
            "kind": job.kind,
            "room": job.payload.get("room"),
            "state": job.state,
            "progress": job.progress,
            "created_at": job.created_at.isoformat(),
            "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            "expires_at": job.expires_at.isoformat() if job.expires_at else None,
            "download": reverse("export-download", args=[job.pk]) if available else None,
            "name": job.result.get("name"),
            "size": job.result.get("size"),
            "error": "The export failed; try again." if job.state == JobState.FAILED else None,
        }


class RoomExportView(APIView):
    @extend_schema(
        summary="Export a room (owners and admins): 202 and the export to follow",
        request=ExportStartSerializer,
        responses={202: ExportSerializer, **body_errors(403)},
    )
    def post(self, request, room_pk):
        data = parse(ExportStartSerializer, request.data)
        job = commands.room_export_start(actor=request.user, room_id=room_pk, attachments_bytes=data["attachments_bytes"])
        return Response(ExportSerializer(job).data, status=202)


class MyExportView(APIView):
    @extend_schema(
        summary="Export my own data: 202 and the export to follow", request=ExportStartSerializer, responses={202: ExportSerializer, **body_errors()}
    )
    def post(self, request):
        data = parse(ExportStartSerializer, request.data)
        job = commands.personal_export_start(actor=request.user, attachments_bytes=data["attachments_bytes"])
        return Response(ExportSerializer(job).data, status=202)


class ExportListView(APIView):
    @extend_schema(summary="My exports, newest first (the last 20)", responses={200: ExportSerializer(many=True), **errors()})
    def get(self, request):
        return Response(ExportSerializer(selectors.export_jobs(user=request.user), many=True).data)


class ExportView(APIView):
    @extend_schema(summary="One of my exports: its state and progress", responses={200: ExportSerializer, **errors()})
    def get(self, request, job_id):
        return Response(ExportSerializer(selectors.export_job(job_id=job_id, user=request.user)).data)

    @extend_schema(summary="Cancel an export that is still running", request=None, responses={204: None, **errors()})
    def delete(self, request, job_id):
        commands.export_cancel(actor=request.user, job_id=job_id)
        return Response(status=204)


class ExportDownloadView(APIView):
    @extend_schema(
        summary="Download a finished export (a ZIP; only the person who asked for it)",
        responses={(200, "application/zip"): OpenApiResponse(description="The ZIP"), **errors(410)},
    )
    def get(self, request, job_id):
        job = selectors.export_job(job_id=job_id, user=request.user)
        if job.state != JobState.DONE:
            raise NotFound("This export is not finished.", code="export_not_ready")
        if not job.expires_at or job.expires_at <= timezone.now() or job.result.get("expired"):
            raise Gone("This export has expired; start a new one.", code="export_expired")
        try:
            handle = open(result_path(job.result["file"]), "rb")  # noqa: SIM115 - FileResponse closes it
        except (OSError, KeyError):
            raise Gone("This export's file is gone; start a new one.", code="export_expired") from None
        response = FileResponse(handle, as_attachment=True, filename=job.result.get("name") or "export.zip", content_type="application/zip")
        response["Cache-Control"] = "private, no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response
