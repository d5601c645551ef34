"""Imports in the admin: upload a Slack export, follow its job, read its report."""

import json

from django import forms
from django.contrib import admin
from django.db import transaction
from django.utils.html import format_html, format_html_join

from chatsite.core import jobs

from .models import ImportedObject, SlackImport


class SlackImportForm(forms.ModelForm):
    archive = forms.FileField(label="Slack export (.zip)", help_text="The ZIP of Slack's Export data (Workspace settings → Import/Export).")
    company_slug = forms.SlugField(label="Company", help_text="Slug of the company the people and rooms join (created when missing).")

    class Meta:
        model = SlackImport
        fields = ["archive", "company_slug"]

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        if not archive.name.lower().endswith(".zip"):
            raise forms.ValidationError("Upload the .zip file of a Slack export.")
        return archive


@admin.register(SlackImport)
class SlackImportAdmin(admin.ModelAdmin):
    list_display = ["created_at", "archive_name", "company_slug", "state", "created_by", "finished_at"]
    list_filter = ["state"]
    readonly_fields = ["archive_name", "company_slug", "state", "progress", "created_by", "created_at", "finished_at", "error", "report_summary"]
    form = SlackImportForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["archive", "company_slug"]
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False if obj is not None and request.method == "POST" else super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        obj.created_by = request.user
        obj.archive_name = form.cleaned_data["archive"].name[:255]
        super().save_model(request, obj, form, change)
        # Off the request path: the worker (manage.py notification_worker) runs it.
        with transaction.atomic():
            obj.job = jobs.enqueue(kind="slack.import", payload={"import_id": str(obj.pk)}, owner=request.user)
            obj.save(update_fields=["job", "updated_at"])

    @admin.display(description="progress")
    def progress(self, obj):
        if not obj.job_id:
            return "—"
        job = obj.job
        text = f"{job.progress}% (job {job.get_state_display().lower()}, attempt {job.attempts})"
        return f"{text}: {job.error}" if job.error else text

    @admin.display(description="report")
    def report_summary(self, obj):
        report = obj.report or {}
        if not report:
            return "— (the report appears here when the import is done)"
        sections = []
        for title, key in (("Imported", "imported"), ("Already imported", "already_imported"), ("Skipped", "skipped")):
            items = report.get(key) or {}
            if items:
                rows = format_html_join("", "<li>{}: {}</li>", sorted(items.items()))
                sections.append(format_html("<h4>{}</h4><ul>{}</ul>", title, rows))
        details = report.get("details") or []
        if details:
            sections.append(format_html("<h4>Details</h4><pre>{}</pre>", "\n".join(details)))
        sections.append(format_html("<details><summary>JSON</summary><pre>{}</pre></details>", json.dumps(report, indent=2, ensure_ascii=False)))
        return format_html_join("", "{}", ((section,) for section in sections))


@admin.register(ImportedObject)
class ImportedObjectAdmin(admin.ModelAdmin):
    list_display = ["source", "workspace", "kind", "external_id", "object_id", "created_at"]
    list_filter = ["source", "kind"]
    search_fields = ["external_id", "object_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
