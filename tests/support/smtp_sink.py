"""A real SMTP server for Herald's tests (aiosmtpd).

Prints {"port": N} once listening, then one JSON line per message received,
with the envelope and the parsed (decoded) headers and body. Recipients whose
local part starts with "bounce" are refused with 550, "busy" with 451, so tests
can see how Herald classifies SMTP errors.
"""
import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.smtp import SMTP


class Handler:
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
        }), flush=True)
        return "250 OK"


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), hostname="herald-test-smtp"), "127.0.0.1", 0)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
