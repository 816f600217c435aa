app_name = "runbooks"

urlpatterns: list = []
