"""The template's SMS account controls handler (SmsAccountControlsHandler), run as CloudFormation
would run it, against botocore's Stubber: every call it makes is checked against the End User
Messaging service model (operation, parameter names and types), in the order expected, and
nothing is left uncalled. Run by infra/lint.sh; exits non-zero on the first failure.

    python infra/test_sms_account_controls.py
"""

import json
import pathlib
import sys
import types
import unittest
from unittest import mock

import boto3
import yaml
from botocore.stub import Stubber

TEMPLATE = pathlib.Path(__file__).with_name("template.yaml")
PID = "pc-0123456789abcdef"
ARN = f"arn:aws:sms-voice:us-east-1:111122223333:protect-configuration/{PID}"


class CfnLoader(yaml.SafeLoader):
    """Reads `!Ref`, `!Sub`, `!GetAtt` ... as their plain values: only the handler's code is used."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def handler_module():
    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    code = template["Resources"]["SmsAccountControlsHandler"]["Properties"]["Code"]["ZipFile"]
    module = types.ModuleType("index")
    exec(compile(code, "index.py", "exec"), module.__dict__)
    return module


def event(kind, props, old=None):
    e = {
        "RequestType": kind,
        "ResponseURL": "https://cloudformation-custom-resource-response.example/x",
        "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/s/1",
        "RequestId": "r-1",
        "LogicalResourceId": "SmsAccountControls",
        "ResourceProperties": {"ServiceToken": "arn:x", "ProtectConfigurationId": PID, **props},
    }
    if old is not None:
        e["OldResourceProperties"] = {"ProtectConfigurationId": PID, **old}
    return e


class Handler(unittest.TestCase):
    def setUp(self):
        self.index = handler_module()
        self.sms = boto3.client(
            "pinpoint-sms-voice-v2",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        self.stub = Stubber(self.sms)
        self.answers = []

    def run_handler(self, e):
        def urlopen(req, timeout):
            self.assertEqual(req.get_method(), "PUT")
            self.assertEqual(req.full_url, e["ResponseURL"])
            self.answers.append(json.loads(req.data))
            return mock.Mock(read=lambda: b"")

        with self.stub, mock.patch.object(self.index.urllib.request, "urlopen", urlopen):
            self.index.handler(e, None, sms=self.sms)
        self.stub.assert_no_pending_responses()
        self.assertEqual(len(self.answers), 1, "exactly one answer to CloudFormation")
        answer = self.answers[0]
        self.assertEqual(answer["PhysicalResourceId"], "sms-account-controls")
        self.assertEqual(answer["RequestId"], "r-1")
        return answer

    def expect_rules(self, countries, wanted):
        for capability in ("SMS", "VOICE"):
            current = {cc: {"ProtectStatus": "ALLOW"} for cc in countries}
            self.stub.add_response(
                "get_protect_configuration_country_rule_set",
                {"ProtectConfigurationArn": ARN, "ProtectConfigurationId": PID,
                 "NumberCapability": capability, "CountryRuleSet": current},
                {"ProtectConfigurationId": PID, "NumberCapability": capability},
            )
            updates = {cc: {"ProtectStatus": wanted[cc]} for cc in countries}
            self.stub.add_response(
                "update_protect_configuration_country_rule_set",
                {"ProtectConfigurationArn": ARN, "ProtectConfigurationId": PID,
                 "NumberCapability": capability, "CountryRuleSet": updates},
                {"ProtectConfigurationId": PID, "NumberCapability": capability,
                 "CountryRuleSetUpdates": updates},
            )
        self.stub.add_response(
            "set_account_default_protect_configuration",
            {"DefaultProtectConfigurationArn": ARN, "DefaultProtectConfigurationId": PID},
            {"ProtectConfigurationId": PID},
        )

    def expect_described(self, account_default):
        self.stub.add_response(
            "describe_protect_configurations",
            {"ProtectConfigurations": [{
                "ProtectConfigurationArn": ARN, "ProtectConfigurationId": PID,
                "CreatedTimestamp": 0, "AccountDefault": account_default,
                "DeletionProtectionEnabled": False}]},
            {"ProtectConfigurationIds": [PID]},
        )

    def expect_limits_removed(self):
        self.stub.add_response("delete_text_message_spend_limit_override", {}, {})
        self.stub.add_response("delete_voice_message_spend_limit_override", {}, {})

    def test_the_allowed_countries_are_allowed_every_other_is_blocked_and_it_is_the_account_default(self):
        self.expect_rules(["US", "GB", "FR", "CU"], {"US": "ALLOW", "GB": "ALLOW", "FR": "BLOCK", "CU": "BLOCK"})
        answer = self.run_handler(event("Create", {"AllowedCountries": "us, GB", "MonthlySpendLimit": "0"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_with_no_country_list_every_country_is_allowed_and_a_spend_limit_is_set_for_texts_and_calls(self):
        self.expect_rules(["US", "FR"], {"US": "ALLOW", "FR": "ALLOW"})
        self.stub.add_response("set_text_message_spend_limit_override", {"MonthlyLimit": 50}, {"MonthlyLimit": 50})
        self.stub.add_response("set_voice_message_spend_limit_override", {"MonthlyLimit": 50}, {"MonthlyLimit": 50})
        answer = self.run_handler(event("Create", {"AllowedCountries": "", "MonthlySpendLimit": "50"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_a_spend_limit_set_to_zero_on_update_is_removed(self):
        self.expect_rules(["US"], {"US": "ALLOW"})
        self.expect_limits_removed()
        answer = self.run_handler(event(
            "Update", {"AllowedCountries": "US", "MonthlySpendLimit": "0"},
            old={"AllowedCountries": "US", "MonthlySpendLimit": "50"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_delete_takes_back_the_account_default_and_the_spend_limits_it_set(self):
        self.expect_described(account_default=True)
        self.stub.add_response(
            "delete_account_default_protect_configuration",
            {"DefaultProtectConfigurationArn": ARN, "DefaultProtectConfigurationId": PID}, {})
        self.expect_limits_removed()
        answer = self.run_handler(event("Delete", {"AllowedCountries": "US", "MonthlySpendLimit": "50"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_delete_leaves_another_configuration_that_is_the_account_default_alone(self):
        self.expect_described(account_default=False)
        answer = self.run_handler(event("Delete", {"AllowedCountries": "US", "MonthlySpendLimit": "0"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_delete_after_a_create_that_never_made_the_configuration_succeeds(self):
        self.stub.add_client_error(
            "describe_protect_configurations", service_error_code="ResourceNotFoundException",
            http_status_code=404, expected_params={"ProtectConfigurationIds": [PID]})
        answer = self.run_handler(event("Delete", {"AllowedCountries": "", "MonthlySpendLimit": "0"}))
        self.assertEqual(answer["Status"], "SUCCESS", answer)

    def test_a_failing_call_answers_failed_with_its_reason_rather_than_leaving_the_stack_waiting(self):
        self.stub.add_client_error(
            "get_protect_configuration_country_rule_set", service_error_code="AccessDeniedException",
            service_message="not allowed", http_status_code=403,
            expected_params={"ProtectConfigurationId": PID, "NumberCapability": "SMS"})
        answer = self.run_handler(event("Create", {"AllowedCountries": "US", "MonthlySpendLimit": "0"}))
        self.assertEqual(answer["Status"], "FAILED", answer)
        self.assertIn("AccessDenied", answer["Reason"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=1).result
    sys.exit(0 if result.wasSuccessful() else 1)
