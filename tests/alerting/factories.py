"""Factories for alerting's models."""

from datetime import date, time, timedelta

import factory

from alerting.choices import ChannelKind, StepTarget
from alerting.models import (
    Channel,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    OnCallOverride,
    OnCallRotation,
    RotationMember,
    RoutingRule,
)
from tests.factories import TeamFactory, UserFactory


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = ChannelKind.GENERIC_WEBHOOK
    url = "https://hooks.example.com/vigil"


class ContactMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactMethod

    user = factory.SubFactory(UserFactory)


class RotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnCallRotation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"rotation-{n}")
    team = factory.SubFactory(TeamFactory)
    shift_length = timedelta(days=7)
    handoff_time = time(9, 0)
    time_zone = "UTC"
    starts_on = date(2026, 1, 5)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if create and extracted:
            RotationMember.objects.bulk_create(
                [RotationMember(rotation=self, user=user, position=i) for i, user in enumerate(extracted)]
            )


class OverrideFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnCallOverride

    rotation = factory.SubFactory(RotationFactory)
    user = factory.SubFactory(UserFactory)


class PolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EscalationPolicy

    name = factory.Sequence(lambda n: f"policy-{n}")


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EscalationStep

    policy = factory.SubFactory(PolicyFactory)
    target = StepTarget.PRIMARY
    wait_minutes = 0


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoutingRule
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"rule-{n}")
    event_types = factory.LazyFunction(list)

    @factory.post_generation
    def channels(self, create, extracted, **kwargs):
        if create and extracted:
            self.channels.set(extracted)
