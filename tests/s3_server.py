"""A real S3-compatible server on 127.0.0.1 for the fleet tests: moto's S3 (PyPI `moto[server]`, pinned in
tests/requirements.txt), served one request at a time so that its conditional puts (`If-Match`,
`If-None-Match: *`) are atomic, as a real bucket's are.

    .venv/bin/python tests/s3_server.py PORT

Prints `listening` once the socket is bound; state is in memory and ends with the process. Stopping the
process (SIGSTOP) makes the bucket unreachable without losing its state; SIGCONT brings it back.
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server


def main() -> None:
    port = int(sys.argv[1])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", port, app, threaded=False)
    print("listening", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
