from django import forms
from django.contrib.auth import get_user_model

from governance.choices import Severity
from governance.models import Service


def _people():
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class DeclareIncidentForm(forms.ModelForm):
    """The short form a commander fills at 3 a.m."""

    class Meta:
        from ..models import Incident

        model = Incident
        fields = ["title", "severity", "service", "summary", "commander"]
        widgets = {"summary": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["commander"].queryset = _people()
        self.fields["commander"].help_text = "Leave empty to take command yourself."
        self.fields["severity"].initial = Severity.SEV2


class StatusUpdateForm(forms.Form):
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 4, "cols": 80}), max_length=5000)


class NoteForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), required=False, max_length=5000, label="Note (optional)"
    )


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    reason = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))


class RolesForm(forms.Form):
    commander = forms.ModelChoiceField(queryset=None, required=False)
    communications_lead = forms.ModelChoiceField(queryset=None, required=False)
    scribe = forms.ModelChoiceField(queryset=None, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("commander", "communications_lead", "scribe"):
            self.fields[name].queryset = _people()
