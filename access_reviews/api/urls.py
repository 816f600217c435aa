from django.urls import path

from . import views

app_name = "access_reviews"

urlpatterns = [
    path("systems/<slug:slug>/snapshot/", views.SnapshotView.as_view(), name="system-snapshot"),
    path("identities/", views.IdentitiesView.as_view(), name="identities"),
    path("campaigns/", views.CampaignListView.as_view(), name="campaign-list"),
    path("items/", views.ItemListView.as_view(), name="item-list"),
    path("items/<int:pk>/", views.ItemDetailView.as_view(), name="item-detail"),
    path("items/<int:pk>/decide/", views.ItemDecideView.as_view(), name="item-decide"),
    path("items/<int:pk>/delegate/", views.ItemDelegateView.as_view(), name="item-delegate"),
]
