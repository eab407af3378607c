"""The browser's pages (SPEC §11): sign-in, tenant choice, consent, logout, errors.

``flow`` decides what an authorization request needs next; ``views`` are the pages;
``browser`` is the sign-in cookie; ``render`` the layout's headers; ``forms`` the WTForms
classes; ``words`` what scopes mean, in words. Templates and the stylesheet are in
``outter_auth/templates`` and ``outter_auth/static``.
"""
