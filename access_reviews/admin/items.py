"""The reviewer's page: only their own items, decided one by one or in bulk, with their progress.

Scoping is the queryset: a user without `view_all_reviewitem` gets `reviewer=request.user`, so
another reviewer's item is simply not there (404 on its URL, absent from every list and action).
Decisions are never made through a model form: the change page posts to `item_decide`.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from governance.admin_base import VigilModelAdmin
from governance.errors import VigilError

from .. import services
from ..choices import CampaignStatus, Decision
from ..models import ReviewItem


def sees_all(user) -> bool:
    return user.is_superuser or user.has_perm("access_reviews.view_all_reviewitem")


class LastLoginFilter(admin.SimpleListFilter):
    title = "last login"
    parameter_name = "last_login"

    def lookups(self, request, model_admin):
        return [("never", "Never"), ("90d", "Over 90 days ago"), ("recent", "Within 90 days")]

    def queryset(self, request, queryset):
        cutoff = timezone.now() - timedelta(days=90)
        if self.value() == "never":
            return queryset.filter(last_login_at__isnull=True)
        if self.value() == "90d":
            return queryset.filter(last_login_at__lt=cutoff)
        if self.value() == "recent":
            return queryset.filter(last_login_at__gte=cutoff)
        return queryset


class PendingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("mine", "Pending, mine to decide"), ("pending", "Pending, campaign open"), ("decided", "Decided")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(
                reviewer=request.user, decision=Decision.PENDING, campaign__status=CampaignStatus.ACTIVE
            )
        if self.value() == "pending":
            return queryset.filter(decision=Decision.PENDING, campaign__status=CampaignStatus.ACTIVE)
        if self.value() == "decided":
            return queryset.exclude(decision=Decision.PENDING)
        return queryset


class ScopedSystemFilter(admin.RelatedOnlyFieldListFilter):
    """The systems among the items this person can see (one query, whatever the row count)."""


class DecisionActionForm(ActionForm):
    justification = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"size": 40, "placeholder": "Justification (revoke, privileged)"})
    )


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[(d, d.label) for d in (Decision.KEEP, Decision.REVOKE, Decision.MODIFY)])
    justification = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    modified_entitlement = forms.CharField(required=False, help_text="For modify: what the access becomes.")


class DelegateForm(forms.Form):
    to = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True, is_staff=True))
    reason = forms.CharField(widget=forms.TextInput(attrs={"size": 60}))


@admin.register(ReviewItem)
class ReviewItemAdmin(VigilModelAdmin):
    evidence_like = True
    change_list_template = "access_reviews/admin/reviewitem_changelist.html"
    change_form_template = "access_reviews/admin/reviewitem_change_form.html"
    list_display = [
        "account",
        "person",
        "system",
        "entitlement",
        "privileged",
        "change",
        "last_login_at",
        "decision_badge",
        "reviewer",
        "campaign",
    ]
    list_display_links = ["account"]
    list_filter = [
        PendingFilter,
        ("system", ScopedSystemFilter),
        "privileged",
        "change",
        LastLoginFilter,
        "decision",
    ]
    # One JOINed query for the page: the person, system, reviewer and campaign come with each row.
    list_select_related = ["system", "identity", "reviewer", "campaign"]
    search_fields = ["account", "entitlement", "identity__email", "identity__name"]
    ordering = ["campaign", "system", "account", "entitlement", "pk"]
    action_form = DecisionActionForm
    actions = ["keep_selected", "revoke_selected"]
    readonly_fields = [
        "campaign",
        "system",
        "account",
        "identity",
        "entitlement",
        "privileged",
        "last_login_at",
        "change",
        "reviewer",
        "decision",
        "modified_entitlement",
        "justification",
        "decided_by",
        "decided_at",
        "defaulted",
        "delegated_from",
        "delegation_reason",
    ]
    fields = readonly_fields

    # --- scope ------------------------------------------------------------------------------
    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if sees_all(request.user):
            return qs
        return qs.filter(reviewer=request.user)

    def get_list_display(self, request):
        if sees_all(request.user):
            return self.list_display
        return [name for name in self.list_display if name != "reviewer"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # decisions go through item_decide, never a model form

    def can_decide(self, request) -> bool:
        return request.user.has_perm("access_reviews.decide_reviewitem")

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Another reviewer's item is not "deleted, perhaps": it does not exist for this person.
        raise Http404("No such review item among yours.")

    # --- columns ----------------------------------------------------------------------------
    @admin.display(description="person", ordering="identity__name")
    def person(self, obj):
        return obj.identity.name or obj.identity.email if obj.identity_id else "— unmatched —"

    @admin.display(description="decision", ordering="decision")
    def decision_badge(self, obj):
        css = {"keep": "vigil-ok", "revoke": "vigil-bad", "modify": "vigil-warning"}.get(obj.decision, "")
        label = obj.get_decision_display() + (" (default)" if obj.defaulted else "")
        return format_html('<span class="{}">{}</span>', css, label)

    # --- bulk actions -----------------------------------------------------------------------
    def _bulk(self, request, queryset, decision):
        if not self.can_decide(request):
            self.message_user(request, "You may not decide review items.", messages.ERROR)
            return
        mine = queryset.filter(reviewer=request.user)  # even a Compliance Manager decides only their own
        skipped = queryset.count() - mine.count()
        try:
            count = services.items_decide(
                items=mine,
                reviewer=request.user,
                decision=decision,
                justification=request.POST.get("justification", ""),
            )
        except VigilError as exc:
            self.message_user(request, f"Nothing was decided: {exc.message}", messages.ERROR)
            return
        note = f" ({skipped} not yours were left alone)" if skipped else ""
        self.message_user(request, f"{count} item(s) marked {decision}{note}.", messages.SUCCESS)

    @admin.action(description="Keep selected items", permissions=["decide"])
    def keep_selected(self, request, queryset):
        self._bulk(request, queryset, Decision.KEEP)

    @admin.action(description="Revoke selected items (justification required)", permissions=["decide"])
    def revoke_selected(self, request, queryset):
        self._bulk(request, queryset, Decision.REVOKE)

    def has_decide_permission(self, request):
        return self.can_decide(request)

    # --- progress ---------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        counts = ReviewItem.objects.filter(
            reviewer=request.user, campaign__status__in=[CampaignStatus.ACTIVE, CampaignStatus.CLOSING]
        ).aggregate(total=Count("pk"), pending=Count("pk", filter=Q(decision=Decision.PENDING)))
        total, pending = counts["total"] or 0, counts["pending"] or 0
        progress = {
            "total": total,
            "decided": total - pending,
            "pending": pending,
            "percent": round(100 * (total - pending) / total) if total else 100,
        }
        return super().changelist_view(request, {**(extra_context or {}), "review_progress": progress})

    # --- one item: decide or delegate -------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)  # scoped: another reviewer's item is None → 404 below
        if obj is None:
            raise Http404("No such review item among yours.")
        if not self.has_view_permission(request, obj):
            return super().change_view(request, object_id, form_url, extra_context)
        own = obj.reviewer_id == request.user.pk and self.can_decide(request)
        open_campaign = obj.campaign.status == CampaignStatus.ACTIVE
        decide_form = DecideForm(initial={"decision": Decision.KEEP})
        delegate_form = DelegateForm()
        if request.method == "POST":
            if not own:
                # Read access (an auditor, a compliance manager) is not a right to decide: refused, like
                # every other change the role may not make.
                raise PermissionDenied("Only the item's reviewer can decide it.")
            if "_delegate" in request.POST:
                delegate_form = DelegateForm(request.POST)
                if delegate_form.is_valid():
                    try:
                        services.item_delegate(
                            item=obj,
                            reviewer=request.user,
                            to=delegate_form.cleaned_data["to"],
                            reason=delegate_form.cleaned_data["reason"],
                        )
                    except VigilError as exc:
                        self.message_user(request, exc.message, messages.ERROR)
                    else:
                        self.message_user(request, "Delegated.", messages.SUCCESS)
                        return HttpResponseRedirect(reverse("admin:access_reviews_reviewitem_changelist"))
            else:
                decide_form = DecideForm(request.POST)
                if decide_form.is_valid():
                    try:
                        services.item_decide(item=obj, reviewer=request.user, **decide_form.cleaned_data)
                    except VigilError as exc:
                        self.message_user(request, exc.message, messages.ERROR)
                    else:
                        self.message_user(
                            request, f"{obj.account}: {decide_form.cleaned_data['decision']}.", messages.SUCCESS
                        )
                        return HttpResponseRedirect(
                            reverse("admin:access_reviews_reviewitem_changelist") + "?state=pending"
                        )
        context = {
            **(extra_context or {}),
            "decide_form": decide_form if own and open_campaign else None,
            "delegate_form": delegate_form if own and open_campaign and obj.decision == Decision.PENDING else None,
        }
        return super().change_view(request, object_id, form_url, context)
