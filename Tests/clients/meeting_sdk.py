"""Drives a Tessera over HTTPS with Huawei's official Meeting SDK (huaweicloudsdkmeeting), unmodified.

usage: meeting_sdk.py BASE_URL ACCOUNT PASSWORD APP_ID APP_KEY

Signs in with an account and with an App ID, validates, refreshes and deletes tokens, and checks
that a deleted token is refused with 401 USG.000000004. Prints one line per step; exits 0 when
every step held. The certificate is a throwaway one: the SDK is told to skip its verification
through its own HttpConfig, as the SDK's documentation shows for test servers.
"""
import sys
import warnings

from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkmeeting.v1 import (CheckTokenRequest, DeleteTokenRequest, MeetingClient, UpdateTokenRequest,
                                      ValidateTokenReqDTO)
from huaweicloudsdkmeeting.v1.meeting_credentials import AuthTypeEnum, MeetingCredentials


def client(base, credentials):
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (5, 10)
    return MeetingClient.new_builder().with_http_config(config).with_credentials(credentials).with_endpoints([base]).build()


def check(condition, step):
    print(("ok   " if condition else "FAIL ") + step, flush=True)
    if not condition:
        sys.exit(1)


def validate(meeting, token, new=False):
    return meeting.check_token(CheckTokenRequest(accept_language="en-US", body=ValidateTokenReqDTO(
        token=token, need_gen_new_token=new, need_account_info=True)))


def refused(call):
    try:
        call()
    except exceptions.ClientRequestException as error:
        return error.status_code == 401 and error.error_code == "USG.000000004" and bool(error.request_id)
    return False


def main(base, account, password, app_id, app_key):
    warnings.filterwarnings("ignore", message="Unverified HTTPS request")
    # Account sign-in happens on the first call: PUT /v1/usg/acs/token refreshes that token.
    by_account = client(base, MeetingCredentials(account, password))
    refreshed = by_account.update_token(UpdateTokenRequest(x_request_id="sdk-refresh-1"))
    check(len(refreshed.access_token or "") == 40 and refreshed.user.uclogin_account == account,
          "account sign-in, then refresh gives a token of the account")
    check(refreshed.client_type == 72 and refreshed.valid_period > 43000 and refreshed.refresh_token,
          "the token object carries client type, validity and a refresh token")

    # Validate the refreshed token; the SDK's own token still works after the refresh.
    validated = validate(by_account, refreshed.access_token)
    check(validated.access_token == refreshed.access_token and validated.user.user_id, "validate answers the token object")
    fresh = validate(by_account, refreshed.access_token, new=True)
    check(fresh.access_token and fresh.access_token != refreshed.access_token, "needGenNewToken gives another token")

    # App ID sign-in (HMAC-SHA256, upper-case hex, access=), then its own delete.
    by_app = client(base, MeetingCredentials().with_auth_type_enum(AuthTypeEnum.APP_ID).with_app_id(app_id)
                    .with_app_key(app_key).with_user_id("sdk-app-user"))
    app_token = by_app.update_token(UpdateTokenRequest())
    check(app_token.user.user_id == "sdk-app-user", "App ID sign-in, then refresh gives the app user's token")
    by_app.delete_token(DeleteTokenRequest())
    check(True, "the App ID client deletes its token (200)")
    check(refused(lambda: by_app.delete_token(DeleteTokenRequest())), "a second delete is 401 USG.000000004")

    # The account client deletes its token: the whole family goes, the refreshed token with it.
    by_account.delete_token(DeleteTokenRequest(x_request_id="sdk-delete-1"))
    check(True, "the account client deletes its token (200)")
    check(refused(lambda: validate(by_account, refreshed.access_token)), "the refreshed token is refused after the delete")
    checker = client(base, MeetingCredentials(account, password))
    check(validate(checker, fresh.access_token).access_token == fresh.access_token, "a token of another family lives on")
    print("all steps held")


if __name__ == "__main__":
    main(*sys.argv[1:6])
