from django.http import Http404
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery.api import ImageOutputSerializer
from gallery.selectors import image_get_visible
from search.selectors import image_similar_list


class ImageSimilarApi(APIView):
    permission_classes = [AllowAny]  # public photos are searchable by anyone; visibility rules apply

    def get(self, request, image_id):
        image = image_get_visible(viewer=request.user, image_id=image_id)
        if image is None:
            raise Http404
        similar = image_similar_list(viewer=request.user, image=image)
        if similar is None:
            return Response({"status": "pending", "results": []}, status=202)
        context = {"request": request}
        return Response({
            "status": "done",
            "results": [
                {
                    "image": ImageOutputSerializer(item.image, context=context).data,
                    "similarity": round(item.similarity, 4),
                    "overlay_url": request.build_absolute_uri(item.overlay_url) if item.overlay_url else None,
                }
                for item in similar
            ],
        })
