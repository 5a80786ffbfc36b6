"""REST API for mobile clients: the same services and selectors as the pages."""

from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from gallery import selectors, services
from gallery.models import Image, Visibility


class ImageOutputSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username")
    file_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = ["id", "owner", "title", "visibility", "width", "height", "content_type", "sha256",
                  "created", "file_url", "page_url", "status_url"]

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_file_url(self, image: Image) -> str:
        return self._absolute(reverse("gallery:file", args=[image.id]))

    def get_page_url(self, image: Image) -> str:
        return self._absolute(reverse("search:photo", args=[image.id]))

    def get_status_url(self, image: Image) -> str:
        return self._absolute(reverse("search:photo_status", args=[image.id]))


class ImageListCreateApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        visibility = serializers.ChoiceField(choices=Visibility.choices, default=Visibility.PRIVATE)

    def get(self, request):
        limit = min(int(request.query_params.get("limit", 48)), 200)
        offset = max(int(request.query_params.get("offset", 0)), 0)
        images = selectors.image_list_owned(owner=request.user, limit=limit, offset=offset)
        return Response(ImageOutputSerializer(images, many=True, context={"request": request}).data)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            image = services.image_create(
                owner=request.user,
                data=upload.read(),
                filename=upload.name,
                title=serializer.validated_data["title"],
                visibility=serializer.validated_data["visibility"],
            )
        except services.DuplicateImage as exc:
            return Response({"file": [exc.message], "code": "duplicate", "existing_id": str(exc.existing.id)},
                            status=status.HTTP_409_CONFLICT)
        except services.ImageRejected as exc:
            return Response({"file": [exc.message], "code": exc.code}, status=status.HTTP_400_BAD_REQUEST)
        return Response(ImageOutputSerializer(image, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class ImageDetailApi(APIView):
    class UpdateSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)
        visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)

    def get(self, request, image_id):
        image = selectors.image_get_visible(viewer=request.user, image_id=image_id)
        if image is None:
            raise Http404
        return Response(ImageOutputSerializer(image, context={"request": request}).data)

    def patch(self, request, image_id):
        image = self._owned(request, image_id)
        serializer = self.UpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        image = services.image_update(image=image, **serializer.validated_data)
        return Response(ImageOutputSerializer(image, context={"request": request}).data)

    def delete(self, request, image_id):
        services.image_delete(image=self._owned(request, image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _owned(request, image_id) -> Image:
        image = selectors.image_get_owned(owner=request.user, image_id=image_id)
        if image is None:
            raise Http404
        return image


class ExploreApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        limit = min(int(request.query_params.get("limit", 48)), 200)
        offset = max(int(request.query_params.get("offset", 0)), 0)
        images = selectors.image_list_public(limit=limit, offset=offset)
        return Response(ImageOutputSerializer(images, many=True, context={"request": request}).data)
