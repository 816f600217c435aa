"""Incidents are made the way the product makes them: through `incident_declare`."""

import factory

from governance.choices import Severity
from incidents.choices import ActionItemKind
from incidents.models import ActionItem, Incident
from tests.factories import ServiceFactory, UserFactory


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    title = factory.Sequence(lambda n: f"Checkout errors {n}")
    severity = Severity.SEV1
    service = factory.SubFactory(ServiceFactory)
    commander = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        from incidents.services import incident_declare

        return incident_declare(**kwargs)


class ActionItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActionItem

    incident = factory.SubFactory(IncidentFactory)
    title = factory.Sequence(lambda n: f"Fix thing {n}")
    kind = ActionItemKind.CORRECTIVE
    owner = factory.SubFactory(UserFactory)
    due_date = factory.Faker("future_date")
