# Local configuration: the same variables a deployed function reads, pointed at the local stack.
# Sourced by the Makefile scripts; values already in the environment win.
: "${AWS_REGION:=us-east-1}"
: "${AWS_ACCESS_KEY_ID:=test}"
: "${AWS_SECRET_ACCESS_KEY:=test}"
: "${AWS_ENDPOINT_URL:=http://127.0.0.1:4566}"
: "${AWS_ENDPOINT_URL_DYNAMODB:=http://127.0.0.1:8000}"
: "${TABLE_NAME:=mfa-local}"
: "${KMS_DATA_KEY_ID:=alias/mfa-data}"
: "${ASSERTION_KEY_ID:=alias/mfa-assertion}"
: "${ASSERTION_ISSUER:=http://127.0.0.1:3000}"
: "${ASSERTION_AUDIENCE:=console}"
: "${SES_FROM_ADDRESS:=no-reply@mfa.local.test}"
: "${SERVICE_NAME:=Console}"
: "${GATEWAY_PORT:=3000}"
# The operator's own numbers may not be a 2FA phone (seed 004); codes go to these countries only.
: "${PHONE_DENY_LIST:=+14155550100,+33612345670}"
: "${PHONE_ALLOWED_COUNTRIES:=US,CA,GB,IE,FR,DE,NL,AU,NZ}"
# The pumping guard's ceilings per source IP and per country assume many users in many places;
# here every caller is 127.0.0.1 and the tests' numbers are French, so those two are raised
# (the range ceiling, the block and the daily budget keep their defaults).
: "${SMS_GUARD_IP_MAX:=1000000}"
: "${SMS_GUARD_COUNTRY_MAX:=1000000}"
# Security keys: browsers (and webauthn-rs) refuse an IP address as the RP id, so the page is
# opened as http://localhost:3000 (the dev gateway listens on 127.0.0.1, which localhost is).
: "${WEBAUTHN_RP_ID:=localhost}"
: "${WEBAUTHN_RP_NAME:=Console (local)}"
: "${WEBAUTHN_ORIGINS:=http://localhost:3000}"
export AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB \
  TABLE_NAME KMS_DATA_KEY_ID ASSERTION_KEY_ID ASSERTION_ISSUER ASSERTION_AUDIENCE SES_FROM_ADDRESS SERVICE_NAME GATEWAY_PORT \
  PHONE_DENY_LIST PHONE_ALLOWED_COUNTRIES SMS_GUARD_IP_MAX SMS_GUARD_COUNTRY_MAX WEBAUTHN_RP_ID WEBAUTHN_RP_NAME WEBAUTHN_ORIGINS
