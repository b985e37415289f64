# kwok controllers: makenodes renders this manifest (makenodes/deploy/kwok.yaml,
# kept fresh by its tests); pod i of the StatefulSet manages the nodes
# labelled kwok-group=<i>. Only the controller count and the image (from the
# mirror registry) are changed here.
locals {
  kwok = replace(
    replace(var.kwok_manifest, "/\\n  replicas: [0-9]+\\n  selector:/", "\n  replicas: ${var.kwok_controllers}\n  selector:"),
    "/image: registry\\.k8s\\.io/kwok/kwok:\\S+/", "image: ${var.images.kwok}",
  )
}
