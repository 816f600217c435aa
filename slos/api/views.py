from rest_framework.views import APIView


class SLOListView(APIView):
    required_scopes = {"GET": "slos:read"}


class SLOEventsView(APIView):
    required_scopes = {"POST": "slos:write"}
