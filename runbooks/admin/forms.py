from django import forms
from django.contrib.auth import get_user_model

from governance.choices import Severity
from governance.errors import VigilError

from ..choices import ReviewOutcome, StepOutcome
from ..models import Runbook
from ..services.runbooks import _validate_lists, validate_body, validate_cadence


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class RunbookForm(forms.ModelForm):
    """What a runbook applies to and its schedule; severities as boxes, alert names as a list."""

    severities = forms.MultipleChoiceField(
        choices=Severity.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    alert_names = forms.CharField(
        required=False,
        help_text="Alertmanager alert names, separated by commas.",
        widget=forms.TextInput(attrs={"size": 80}),
    )

    class Meta:
        model = Runbook
        fields = [
            "title",
            "slug",
            "service",
            "severities",
            "alert_names",
            "owner_team",
            "review_interval_days",
            "cadence",
            "cadence_timezone",
            "procedure_deadline_hours",
            "procedure_assignee",
            "assign_on_call",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["alert_names"] = ", ".join(self.instance.alert_names)
        if "cadence" in self.fields:  # absent when the page is read-only (a viewer, a retired runbook)
            self.fields["cadence"].help_text = "daily, weekly, monthly, quarterly or a cron expression; empty: none."
        if "procedure_assignee" in self.fields:
            self.fields["procedure_assignee"].queryset = (
                get_user_model().objects.filter(is_active=True).order_by("username")
            )

    def clean_alert_names(self):
        return _comma_list(self.cleaned_data.get("alert_names", ""))

    def clean(self):
        data = super().clean()
        if "cadence" not in self.fields:
            return data
        try:
            _validate_lists(data.get("severities"), data.get("alert_names"))
            validate_cadence(data.get("cadence", ""), data.get("cadence_timezone") or "UTC")
        except VigilError as exc:
            for name, messages in exc.fields.items():
                self.add_error(name if name in self.fields else None, messages)
        return data


class RunbookAddForm(RunbookForm):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "vLargeTextField"}),
        help_text="Markdown. Steps are '## Step 1: …' sections; the first fenced block is the command; "
        "lines starting 'Expected:' and 'Rollback:' are the expected result and the rollback.",
    )
    change_summary = forms.CharField(max_length=300, initial="First version")

    class Meta(RunbookForm.Meta):
        fields = [*RunbookForm.Meta.fields, "body", "change_summary"]

    def clean_body(self):
        try:
            return validate_body(self.cleaned_data.get("body", ""))[0]
        except VigilError as exc:
            raise forms.ValidationError(exc.fields.get("body") or exc.message) from None


class EditContentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 28, "cols": 110, "class": "vLargeTextField"}))
    change_summary = forms.CharField(max_length=300, help_text="What changed and why (shown in the history).")

    def clean_body(self):
        try:
            return validate_body(self.cleaned_data.get("body", ""))[0]
        except VigilError as exc:
            raise forms.ValidationError(exc.fields.get("body") or exc.message) from None


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(choices=ReviewOutcome.choices, widget=forms.RadioSelect)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), required=False, max_length=5000)


class RetireForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), max_length=1000)


class StepForm(forms.Form):
    step = forms.IntegerField(min_value=1)
    outcome = forms.ChoiceField(choices=StepOutcome.choices)
    output = forms.CharField(required=False, max_length=20000)


class AbandonForm(forms.Form):
    reason = forms.CharField(max_length=1000)
