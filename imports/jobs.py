"""The "slack.import" job: an export uploaded in the admin, imported off the
request path by the worker (chatsite/core/jobs.py). Safe to run again from the
start: the import map skips what an earlier attempt wrote."""

from django.utils import timezone

from chatsite.core import jobs

from .models import ImportState, SlackImport
from .slack import SlackImportError, import_slack


@jobs.handler("slack.import")
def run_slack_import(job, ctx) -> dict:
    run = SlackImport.objects.get(pk=job.payload["import_id"])
    if run.state in (ImportState.DONE, ImportState.FAILED) or not run.archive:
        return run.report  # ended already (its archive is gone): nothing to do again
    SlackImport.objects.filter(pk=run.pk).update(state=ImportState.RUNNING, updated_at=timezone.now())
    try:
        report = import_slack(run.archive.path, company_slug=run.company_slug, progress=lambda percent: ctx.progress(percent))
    except SlackImportError as error:
        # The export itself is unusable: trying again would not help.
        _finish(run, state=ImportState.FAILED, error=str(error))
        return {"error": str(error)}
    _finish(run, state=ImportState.DONE, report=report)
    return report


def _finish(run: SlackImport, *, state: str, report=None, error: str = "") -> None:
    # The archive is the whole history in plain text: it goes once it is imported.
    if run.archive:
        run.archive.delete(save=False)
    run.state, run.report, run.error, run.finished_at = state, report or {}, error, timezone.now()
    run.save(update_fields=["archive", "state", "report", "error", "finished_at", "updated_at"])
