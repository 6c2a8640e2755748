"""tests/integration/smtp_relay.py: a relay that asks what a real submission server asks, for
test_imip.py: Debian's python3-aiosmtpd (its Controller and Maildir handler) on
127.0.0.1:PORT with STARTTLS required (CERT, KEY) and SMTP AUTH required (USER, the
password in PASSWORD_FILE; AUTH only after STARTTLS, aiosmtpd's default). Each message it
takes lands in MAILDIR with its envelope in X-MailFrom / X-RcptTo; each AUTH attempt is
appended to MAILDIR/../auth.log as "ok LOGIN" or "refused LOGIN". Runs until SIGTERM.

usage: smtp_relay.py PORT MAILDIR CERT KEY USER PASSWORD_FILE"""

import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, maildir, cert, key, user, pwfile = sys.argv[1:7]
    with open(pwfile) as f:
        password = f.readline().rstrip("\r\n")
    log = os.path.join(os.path.dirname(maildir.rstrip("/")), "auth.log")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        with open(log, "a") as f:
            f.write("%s %s %s\n" % ("ok" if ok else "refused", mechanism, login))
        return AuthResult(success=ok, handled=False)

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    relay = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
                       tls_context=ctx, require_starttls=True, auth_required=True,
                       authenticator=authenticator)
    relay.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    relay.stop()


if __name__ == "__main__":
    main()
