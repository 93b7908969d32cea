"""The original's exceptions (`nd_service_registry.exceptions`): `ServiceRegistryException`
with its message in `.value`, `NoConnection` and `ReadOnly`. They are libndsr's own classes,
so `except ndsr.NoConnection` catches them too."""

from ..errors import NoConnection, ReadOnly, ServiceRegistryException  # noqa: F401
