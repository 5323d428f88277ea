"""A real SMTP server for Herald's tests (aiosmtpd).

Prints {"port": N} once listening, then one JSON line per message received,
with the envelope, the parsed (decoded) headers and body, and the login that
authenticated, if any. Recipients whose local part starts with "bounce" are
refused with 550, "busy" with 451, so tests can see how Herald classifies SMTP
errors.

Options: --starttls CERT KEY (STARTTLS required), --tls CERT KEY (implicit
TLS), --auth USER:PASSWORD (AUTH required; the only accepted login),
--xoauth2 USER:TOKEN (AUTH XOAUTH2 required, as Gmail and Microsoft 365 take
it: `user=USER^Aauth=Bearer TOKEN^A^A` in base64; the only accepted token).
Each message line also lists the HTML alternative and the attachments.
"""
import base64
import argparse
import asyncio
import email
import email.policy
import json
import ssl
import logging
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# aiosmtpd logs a deprecation of an attribute it sets itself on every login.
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Handler:
    def __init__(self, xoauth2=None):
        self.xoauth2 = xoauth2

    async def auth_XOAUTH2(self, server, args):
        if self.xoauth2 is None:
            return AuthResult(success=False, handled=False)
        if len(args) > 1:
            response = args[1]
        else:
            response = await server.challenge_auth("", encode_to_b64=False)
            if response is None:
                return AuthResult(success=False, handled=False)
            response = response.decode() if isinstance(response, bytes) else response
        try:
            fields = base64.b64decode(response).decode().split("\x01")
        except ValueError:
            return AuthResult(success=False, handled=False)
        user = fields[0].removeprefix("user=")
        ok = (user, "auth=Bearer " + self.xoauth2[1]) == (self.xoauth2[0], fields[1] if len(fields) > 1 else "")
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("bounce"):
            return "550 5.1.1 no such user"
        if local.startswith("busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        attachments = [{"filename": a.get_filename(), "content_type": a.get_content_type(),
                        "content": a.get_content()} for a in msg.iter_attachments()]
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["Subject"] or ""),
            "from": str(msg["From"] or ""),
            "to": str(msg["To"] or ""),
            "cc": str(msg["Cc"] or ""),
            "message_id": str(msg["Message-ID"] or ""),
            "content_type": msg.get_content_type(),
            "body": body.get_content() if body is not None else "",
            "html": html.get_content() if html is not None else None,
            "attachments": attachments,
            "login": session.auth_data if isinstance(session.auth_data, str) else None,
        }), flush=True)
        return "250 OK"


def authenticator(expected):
    def check(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(), auth_data.password.decode()) == expected
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)
    return check


async def main(args):
    context = None
    cert = args.starttls or args.tls
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*cert)
    options = {"hostname": "herald-test-smtp"}
    if args.starttls:
        options.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, password = args.auth.split(":", 1)
        options.update(authenticator=authenticator((user, password)), auth_required=True,
                       auth_require_tls=bool(cert))
    loop = asyncio.get_running_loop()
    xoauth2 = None
    if args.xoauth2:
        xoauth2 = tuple(args.xoauth2.split(":", 1))
        options.update(auth_required=True, auth_require_tls=bool(cert),
                       authenticator=lambda *a: AuthResult(success=False, handled=False))
    server = await loop.create_server(lambda: SMTP(Handler(xoauth2), **options), "127.0.0.1", 0,
                                      ssl=context if args.tls else None)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    parser.add_argument("--xoauth2")
    try:
        asyncio.run(main(parser.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
