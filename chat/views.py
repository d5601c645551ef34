from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from .models import Attachment, ChatMember


def attachment_visible_to(attachment: Attachment, user) -> bool:
    """Members of a room the attachment was posted in (and its uploader) may read it."""
    if attachment.uploaded_by_id == user.pk:
        return True
    return ChatMember.objects.filter(
        user=user, is_active=True, room__messages__attachment=attachment
    ).exists()


@require_GET
@login_required
def attachment_download(request, attachment_id):
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None or not attachment_visible_to(attachment, request.user):
        raise Http404("Attachment not found.")
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not attachment.is_image,
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
