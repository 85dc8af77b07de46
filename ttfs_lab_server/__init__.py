"""What the Voilà server of the dashboards needs beyond its stock settings (apps/voila.json).

A package of its own, outside ``ttfs_lab``: the server process (Voilà, or each student's
single-user server on the workshop hub) imports it, and importing anything under ``ttfs_lab``
runs ``ttfs_lab/__init__`` (torch) and ``ttfs_lab.widgets`` (bqplot, pandas) -- ~290 MB more
per server that never computes a spike (benchmarks/classroom.py: 389 MB -> ~100 MB per student
server). Only jupyter_server is imported here.

Voilà shuts a page's kernel down when the page closes: on ``beforeunload`` the page posts to
``/voila/api/shutdown/<kernel id>`` with the ``_xsrf`` cookie's value as the form's
``_xsrf`` field (tornado's double-submit check: cookie and field must match). But Voilà's
render handler never reads ``handler.xsrf_token``, so the server never sets that cookie; the
page sends an empty field, tornado answers ``403 '_xsrf' argument missing from POST`` and the
kernel (~400 MB with torch) lives on (voila-dashboards/voila issue 1458, open for 0.5.x).

``XsrfCookieIdentityProvider`` is jupyter_server's password/token identity provider (Voilà's
default) that, on every GET, also reads ``handler.xsrf_token`` -- which sets the ``_xsrf``
cookie when the browser has none (tornado keeps an existing one). The check itself stays on:
a POST without the matching cookie is still refused. Chosen in apps/voila.json as
``Voila.identity_provider_class``.

Kernels whose page never said goodbye (a crashed browser, a laptop lid closed, a network cut)
are culled by jupyter_server's own MappingKernelManager settings, also in apps/voila.json.
``GraceKernelManager`` closes a gap between those settings and Voilà's warm pool: a pooled
kernel has been idle since it ran the notebook, so the moment a page takes it -- before the
page's websocket connects -- it looks like an orphan, and a cull pass landing in that second
would kill the student's fresh kernel. A kernel that has never been seen connected gets one
more idle timeout before it can be culled.
"""
from __future__ import annotations

import inspect

from jupyter_server._tz import utcnow
from jupyter_server.auth.identity import PasswordIdentityProvider
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager


class XsrfCookieIdentityProvider(PasswordIdentityProvider):
    """PasswordIdentityProvider that makes sure a page's browser holds the ``_xsrf`` cookie."""

    async def get_user(self, handler):
        user = super().get_user(handler)
        if inspect.isawaitable(user):
            user = await user
        if handler.request.method in ("GET", "HEAD"):
            # tornado's xsrf_token reads handler.current_user (for the cookie's lifetime); set it
            # now -- JupyterHandler.prepare sets the same value right after -- or tornado would
            # call the deprecated get_current_user(), which raises in jupyter_server 2.
            handler.current_user = user
            handler.xsrf_token  # noqa: B018 -- reading it sets the cookie if the request had none
        return user


class GraceKernelManager(AsyncMappingKernelManager):
    """jupyter_server's kernel manager; a kernel never seen connected is not culled on its
    first idle check but given one more ``cull_idle_timeout`` (its idle clock restarts)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._seen_connected: set[str] = set()
        self._graced: set[str] = set()

    async def cull_kernel_if_idle(self, kernel_id):
        kernel = self._kernels.get(kernel_id)
        if kernel is not None and hasattr(kernel, "last_activity"):
            if self._kernel_connections.get(kernel_id, 0):
                self._seen_connected.add(kernel_id)
            elif kernel_id not in self._seen_connected and kernel_id not in self._graced:
                self._graced.add(kernel_id)
                kernel.last_activity = utcnow()
                return None
        return await super().cull_kernel_if_idle(kernel_id)

    async def shutdown_kernel(self, kernel_id, *args, **kwargs):
        self._seen_connected.discard(kernel_id)
        self._graced.discard(kernel_id)
        return await super().shutdown_kernel(kernel_id, *args, **kwargs)
