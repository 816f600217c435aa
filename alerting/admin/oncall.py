from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.admin_base import ReadOnlyAdmin, VigilModelAdmin

from ..models import CalendarFeed, CoverageGap, OnCallOverride, OnCallRotation, RotationMember
from ..selectors import RotationPlan
from ..services import calendar_feed_for, calendar_feed_rotate_token


def calendar_url(feed: CalendarFeed) -> str:
    return settings.VIGIL_BASE_URL.rstrip("/") + reverse("alerting:calendar", args=[feed.token])


class RotationMemberInline(admin.TabularInline):
    model = RotationMember
    extra = 1
    autocomplete_fields = ["user"]
    ordering = ["position", "pk"]


class OnCallOverrideInline(admin.TabularInline):
    model = OnCallOverride
    extra = 0
    fk_name = "rotation"
    autocomplete_fields = ["user", "replaces"]
    fields = ["user", "replaces", "starts_at", "ends_at", "reason"]

    def get_queryset(self, request):
        # Only current and future overrides: the past ones are history, listed on their own page.
        return super().get_queryset(request).filter(ends_at__gte=timezone.now()).select_related("user", "replaces")


@admin.register(OnCallRotation)
class OnCallRotationAdmin(VigilModelAdmin):
    list_display = ["name", "team", "shift_length", "handoff_time", "time_zone", "enabled", "on_call_now"]
    list_filter = ["enabled", "team"]
    list_select_related = ["team"]
    search_fields = ["name", "team__name"]
    autocomplete_fields = ["team"]
    ordering = ["team__name", "name"]
    inlines = [RotationMemberInline, OnCallOverrideInline]
    readonly_fields = ["on_call_now", "calendar"]
    fields = ["name", "team", "shift_length", "handoff_time", "time_zone", "starts_on", "enabled", *readonly_fields]

    def get_queryset(self, request):
        # Members and the overrides active now are prefetched, so "on call now" costs 2 queries per page.
        now = timezone.now()
        return (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "memberships", queryset=RotationMember.objects.select_related("user").order_by("position", "pk")
                ),
                Prefetch(
                    "overrides",
                    queryset=OnCallOverride.objects.filter(starts_at__lte=now, ends_at__gt=now).select_related("user"),
                    to_attr="active_overrides",
                ),
            )
        )

    @admin.display(description="on call now")
    def on_call_now(self, obj):
        if obj.pk is None:
            return "—"
        overrides = getattr(obj, "active_overrides", None)
        if overrides is None:
            now = timezone.now()
            overrides = list(obj.overrides.filter(starts_at__lte=now, ends_at__gt=now).select_related("user"))
        plan = RotationPlan(obj, [m.user for m in obj.memberships.all()], overrides)
        primary, secondary = plan.at(timezone.now())
        return f"{primary or '— nobody —'} / {secondary or '— nobody —'}"

    @admin.display(description="iCalendar feed")
    def calendar(self, obj):
        if obj.pk is None:
            return "Save the rotation first."
        feed = CalendarFeed.objects.filter(rotation=obj).first()
        if feed is None:
            return "Use the action “Create calendar feeds” on the list."
        return format_html('<a href="{0}">{0}</a>', calendar_url(feed))

    actions = ["create_calendar_feeds"]

    def get_fields(self, request, obj=None):
        # The feed URL is a credential: only people who may change the rotation see it.
        fields = super().get_fields(request, obj)
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "calendar"]

    @admin.action(description="Create calendar feeds (rotation and each member)", permissions=["change"])
    def create_calendar_feeds(self, request, queryset):
        people = set()
        for rotation in queryset.prefetch_related("memberships__user"):
            calendar_feed_for(rotation=rotation)
            for membership in rotation.memberships.all():
                if membership.user_id not in people:
                    calendar_feed_for(user=membership.user)
                    people.add(membership.user_id)
        messages.success(
            request,
            f"{queryset.count()} rotation feed(s) and {len(people)} personal feed(s) ready; "
            "the URLs are on each rotation and under Calendar feeds.",
        )


@admin.register(OnCallOverride)
class OnCallOverrideAdmin(VigilModelAdmin):
    list_display = ["rotation", "user", "replaces", "starts_at", "ends_at", "reason"]
    list_filter = ["rotation"]
    list_select_related = ["rotation", "rotation__team", "user", "replaces"]
    search_fields = ["user__username", "replaces__username", "reason"]
    autocomplete_fields = ["rotation", "user", "replaces"]
    ordering = ["-starts_at", "-pk"]


@admin.register(CalendarFeed)
class CalendarFeedAdmin(VigilModelAdmin):
    list_display = ["__str__", "rotation", "user", "created_at"]
    list_select_related = ["rotation", "rotation__team", "user"]
    search_fields = ["rotation__name", "user__username"]
    autocomplete_fields = ["rotation", "user"]
    readonly_fields = ["feed_url"]
    actions = ["rotate_token"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return fields if self.has_change_permission(request, obj) else [f for f in fields if f != "feed_url"]

    @admin.display(description="private URL")
    def feed_url(self, obj):
        if obj.pk is None:
            return "Saved feeds get a private URL."
        return format_html('<a href="{0}">{0}</a>', calendar_url(obj))

    @admin.action(description="Rotate the private URL (the old one stops working)", permissions=["change"])
    def rotate_token(self, request, queryset):
        for feed in queryset:
            calendar_feed_rotate_token(feed=feed)
        messages.success(request, f"{queryset.count()} feed URL(s) replaced.")


@admin.register(CoverageGap)
class CoverageGapAdmin(ReadOnlyAdmin):
    evidence_like = False
    list_display = ["team", "missing", "starts_at", "ends_at", "duration", "detected_at"]
    list_filter = ["missing", "team"]
    list_select_related = ["team"]
    ordering = ["starts_at", "pk"]

    @admin.display(description="duration")
    def duration(self, obj):
        hours = (obj.ends_at - obj.starts_at) / timedelta(hours=1)
        return f"{hours:.1f} h"
