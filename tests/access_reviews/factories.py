import factory
from django.utils import timezone

from access_reviews.models import AccessGrant, Identity, ReviewTemplate, System
from tests.factories import UserFactory


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    department = "Engineering"


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"system-{n}")
    name = factory.Sequence(lambda n: f"System {n}")
    owner = factory.SubFactory(UserFactory)


class GrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccessGrant

    system = factory.SubFactory(SystemFactory)
    account = factory.Sequence(lambda n: f"account{n}")
    entitlement = "read"
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyFunction(timezone.now)


class TemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReviewTemplate
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Quarterly review {n}")
    fallback_reviewer = factory.SubFactory(UserFactory)
    owner = factory.SubFactory(UserFactory)

    @factory.post_generation
    def systems(self, create, extracted, **kwargs):
        if create and extracted:
            self.systems.set(extracted)
