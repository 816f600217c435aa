app_name = "access_reviews"

urlpatterns: list = []
