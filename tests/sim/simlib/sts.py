# SPDX-License-Identifier: MIT
"""STS over the query protocol (form-encoded POST, XML replies):
AssumeRoleWithWebIdentity (unsigned), AssumeRole and GetCallerIdentity
(signed). Issued credentials are temporary keys the signature checker
accepts until they expire."""

import re
from xml.sax.saxutils import escape

from .core import AwsError

NS = "https://sts.amazonaws.com/doc/2011-06-15/"
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")


def iso8601(epoch):
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def xml_response(action, result_xml, request_id):
    return ('<%sResponse xmlns="%s">\n  <%sResult>\n%s  </%sResult>\n  <ResponseMetadata>\n'
            '    <RequestId>%s</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n'
            % (action, NS, action, result_xml, action, request_id, action))


def xml_error(err, request_id):
    return ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n'
            '    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n'
            % (NS, "Sender" if err.sender else "Receiver", escape(err.code), escape(err.message), request_id))


class Sts:
    def __init__(self, world):
        self.world = world
        self.web_identity_tokens = None  # None: any token; else the set accepted

    def _credentials_xml(self, key):
        return ("    <Credentials>\n      <AccessKeyId>%s</AccessKeyId>\n      <SecretAccessKey>%s"
                "</SecretAccessKey>\n      <SessionToken>%s</SessionToken>\n      <Expiration>%s</Expiration>\n"
                "    </Credentials>\n" % (key.access_key, escape(key.secret), escape(key.token),
                                          iso8601(key.expires)))

    def _assume(self, p, action, extra="", parent=None):
        m = ROLE_ARN_RE.match(p["RoleArn"])
        if not m:
            raise AwsError("ValidationError", "%s is invalid" % p["RoleArn"])
        session = p["RoleSessionName"]
        if not re.match(r"^[\w+=,.@-]{2,64}$", session):
            raise AwsError("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' "
                           "failed to satisfy constraint" % session)
        lifetime = int(p.get("DurationSeconds") or self.world.settings.get("credential_lifetime_seconds", 3600))
        account, role = m.group(1), m.group(2)
        arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (account, role, session)
        key = self.world.keys.issue(account, lifetime, arn=arn, parent=parent)
        body = self._credentials_xml(key) + (
            "    <AssumedRoleUser>\n      <AssumedRoleId>AROA%s:%s</AssumedRoleId>\n      <Arn>%s</Arn>\n"
            "    </AssumedRoleUser>\n" % (account, escape(session), escape(arn))) + extra
        return action, body

    def assume_role_with_web_identity(self, ctx, p):
        token = p["WebIdentityToken"]
        if self.web_identity_tokens is not None and token not in self.web_identity_tokens:
            raise AwsError("InvalidIdentityToken", "Couldn't verify the web identity token")
        return self._assume(p, "AssumeRoleWithWebIdentity",
                            "    <SubjectFromWebIdentityToken>system:serviceaccount:awssim</SubjectFromWebIdentityToken>\n"
                            "    <Provider>awssim</Provider>\n    <Audience>sts.amazonaws.com</Audience>\n")

    def assume_role(self, ctx, p):
        # The new key remembers its caller: fault rules and logs that name a caller's key follow
        # it into the role's sessions.
        return self._assume(p, "AssumeRole", parent=ctx.key.access_key if ctx and ctx.key else None)

    def get_caller_identity(self, ctx, p):
        return "GetCallerIdentity", ("    <Arn>%s</Arn>\n    <UserId>%s</UserId>\n    <Account>%s</Account>\n"
                                     % (escape(ctx.arn), escape(ctx.key.access_key), ctx.account))

    OPERATIONS = {
        "AssumeRoleWithWebIdentity": assume_role_with_web_identity,
        "AssumeRole": assume_role,
        "GetCallerIdentity": get_caller_identity,
    }
    UNSIGNED = {"AssumeRoleWithWebIdentity"}
