from django.urls import path

from . import views

app_name = "access_reviews"

urlpatterns = [
    path("access/systems/<slug:slug>/snapshot/", views.SnapshotView.as_view(), name="system-snapshot"),
    path("access/identities/", views.IdentitiesView.as_view(), name="identities"),
    path("access/campaigns/", views.CampaignListView.as_view(), name="campaign-list"),
    path("access/items/", views.ItemListView.as_view(), name="item-list"),
    path("access/items/<int:pk>/", views.ItemDetailView.as_view(), name="item-detail"),
    path("access/items/<int:pk>/decide/", views.ItemDecideView.as_view(), name="item-decide"),
    path("access/items/<int:pk>/delegate/", views.ItemDelegateView.as_view(), name="item-delegate"),
]
