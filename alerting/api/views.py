"""The private iCalendar feed: the token in the URL is the credential (like any calendar subscription)."""

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from ..models import CalendarFeed
from ..services import render_calendar


@require_GET
def calendar(request, token: str):
    feed = CalendarFeed.objects.select_related("rotation", "user").filter(token=token).first()
    if feed is None:
        raise Http404("No such calendar.")
    response = HttpResponse(render_calendar(feed=feed), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="oncall.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response
