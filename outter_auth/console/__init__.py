"""The admin console (SPEC §12, the "Outter dashboard"): pages under ``/console``.

``signin`` signs the console in through the service's own browser sign-in (SPEC §11: the
console is a first-party client, so an SSO session is reused); ``access`` turns the browser's
sign-in into the caller the services take, and keeps members to their own pages; ``render``
answers every page (layout, headers, errors). Each area is one module of views over the same
services as the REST API: ``api_keys``, ``projects``, ``users``, ``clients``, ``account``
(the caller's account and consents), ``signing_keys`` and ``audit``. Templates are in
``templates/console``, the stylesheet and the one script in ``static``.
"""
