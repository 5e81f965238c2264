"""A Jupyter server extension that hardens nbgrader's formgrader for this course.

Loaded by ``make lab`` (autograder/jupyter_server_config.py). The formgrader's submission
page is made safe by the course's template (autograder/templates/convlab: cleaned
markdown and outputs, a CSP meta tag). What remains is its file handler:
``/formgrader/submissions/<id>/<path>`` serves any file of a student's autograded folder
from the Jupyter origin, and ``nbgrader autograde`` copies every file a student handed in
there (``convlab grade`` copies notebooks only). A student's ``page.html`` or ``x.svg``,
linked from a reflection, would run with the instructor's session: able to open a
terminal. So every such response gets

* ``Content-Security-Policy: sandbox; default-src 'none'; ...``: a unique origin, no
  script, no form, no plugin, whatever the file is;
* ``X-Content-Type-Options: nosniff``.

A global ``ServerApp.tornado_settings`` header would have done the same for every page,
JupyterLab's included, whose own pages need scripts the policy would forbid: hence a
patch of this one handler (a class attribute, so the order in which extensions load
does not matter). The formgrade page also gets ``frame-ancestors 'self'`` and
``object-src 'none'`` as a header, on top of its meta policy.
"""
from __future__ import annotations

__all__ = ["FILES_CSP", "PAGE_HEADER_CSP", "harden", "_load_jupyter_server_extension"]

FILES_CSP = ("sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
             "media-src 'self'")
PAGE_HEADER_CSP = "object-src 'none'; base-uri 'none'; frame-ancestors 'self'"


def harden() -> None:
    """Patch nbgrader's formgrader handlers (idempotent). Jupyter's handlers send the
    policy their ``content_security_policy`` property returns (set_default_headers)."""
    from nbgrader.server_extensions.formgrader import handlers

    files = handlers.SubmissionFilesHandler
    if not getattr(files, "_convlab_hardened", False):
        original = files.set_extra_headers

        def set_extra_headers(self, path):
            original(self, path)
            self.set_header("X-Content-Type-Options", "nosniff")

        files.set_extra_headers = set_extra_headers
        files.content_security_policy = property(lambda self: FILES_CSP)
        files._convlab_hardened = True

    page = handlers.SubmissionHandler
    if not getattr(page, "_convlab_hardened", False):
        page.content_security_policy = property(lambda self: PAGE_HEADER_CSP)
        page._convlab_hardened = True


def _jupyter_server_extension_points():
    return [{"module": "autograder.formgrader_safety"}]


def _load_jupyter_server_extension(serverapp) -> None:
    harden()
    serverapp.log.info("convlab: formgrader submission files served sandboxed (CSP)")
