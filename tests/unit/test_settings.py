"""entrypoints.settings: defaults that run on one machine, and one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from entrypoints.settings import SETTINGS, Settings, SettingsError


class TestSettings:
    def test_defaults_point_every_service_at_this_machine(self):
        settings = Settings.from_environment({})

        assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
        assert (settings.order_port, settings.product_port, settings.message_port) == (8001, 8002, 8003)
        assert settings.product_service_url == ("http://127.0.0.1:8002",)
        assert settings.order_payment_timeout_s == 1800
        assert settings.data_dir.parts[-2:] == ("var", "data")

    def test_the_environment_overrides_a_default(self, tmp_path):
        settings = Settings.from_environment({"DATA_DIR": str(tmp_path), "ORDER_PORT": "9001"})

        assert (settings.data_dir, settings.order_port) == (Path(tmp_path).resolve(), 9001)

    @pytest.mark.parametrize(
        ("name", "value", "message"),
        [
            ("ORDER_PORT", "eighty", "ORDER_PORT='eighty' is not a port number (1-65535)"),
            ("PRODUCT_PORT", "70000", "PRODUCT_PORT='70000' is not a port number (1-65535)"),
            ("ORDER_PAYMENT_TIMEOUT_S", "-5", "ORDER_PAYMENT_TIMEOUT_S='-5' is not a positive number of seconds"),
            ("PRODUCT_SERVICE_URL", "127.0.0.1:8002", "PRODUCT_SERVICE_URL='127.0.0.1:8002' is not an http://"),
            ("KAFKA_BOOTSTRAP_SERVERS", "localhost", "KAFKA_BOOTSTRAP_SERVERS='localhost' is not host:port"),
            ("OUTBOX_GROUP_COMMIT_MS", "-1", "OUTBOX_GROUP_COMMIT_MS='-1' is not a number of ms, 0 to 1000"),
            ("OUTBOX_GROUP_COMMIT_MS", "5000", "OUTBOX_GROUP_COMMIT_MS='5000' is not a number of ms, 0 to 1000"),
        ],
    )
    def test_a_bad_value_names_the_variable_and_what_it_accepts(self, name, value, message):
        with pytest.raises(SettingsError) as refused:
            Settings.from_environment({name: value})

        assert str(refused.value).startswith(message)

    def test_several_product_service_instances_are_listed_comma_separated(self):
        settings = Settings.from_environment({"PRODUCT_SERVICE_URL": "http://a:8002/, http://b:8012"})

        assert settings.product_service_url == ("http://a:8002", "http://b:8012")

    def test_one_product_service_instance_listed_twice_is_refused(self):
        with pytest.raises(SettingsError, match="PRODUCT_SERVICE_URL="):
            Settings.from_environment({"PRODUCT_SERVICE_URL": "http://a:8002,http://a:8002"})

    def test_without_a_database_url_the_state_stays_in_sqlite(self):
        assert Settings.from_environment({}).database_url is None

    def test_a_database_url_must_name_postgresql(self):
        url = "postgresql://ordering@127.0.0.1:5432/ordering"

        assert Settings.from_environment({"DATABASE_URL": url}).database_url == url
        with pytest.raises(SettingsError, match="DATABASE_URL='mysql://x' is not a postgresql:// URL"):
            Settings.from_environment({"DATABASE_URL": "mysql://x"})

    def test_an_unnamed_instance_is_named_by_its_host_and_process(self):
        import os
        import socket

        assert Settings.from_environment({}).instance_id == f"{socket.gethostname()}-{os.getpid()}"
        assert Settings.from_environment({"INSTANCE_ID": "order-2"}).instance_id == "order-2"

    @pytest.mark.parametrize("name", ["order 2", "order/2", "x" * 65, "ordér"])
    def test_an_instance_id_is_a_short_plain_name(self, name):
        with pytest.raises(SettingsError, match="INSTANCE_ID="):
            Settings.from_environment({"INSTANCE_ID": name})

    def test_every_setting_has_a_field(self):
        fields = {name.upper() for name in attrs.fields_dict(Settings)}

        assert {s.name for s in SETTINGS} == fields


class TestIdentitySettings:
    def test_by_default_tokens_are_checked_with_the_local_key_beside_the_data(self, tmp_path):
        settings = Settings.from_environment({"DATA_DIR": str(tmp_path)})

        assert not settings.external_identity_provider
        assert settings.auth_local_key_file == Path(tmp_path).resolve() / "local-keys.json"
        assert (settings.auth_issuer, settings.auth_audience, settings.auth_leeway_s) == (
            "ordering-local",
            "ordering",
            30,
        )
        assert (settings.order_max_unpaid_orders, settings.order_max_unpaid_units) == (3, 50)
        assert settings.demo_sign_in is False

    def test_a_provider_s_keys_need_its_issuer(self):
        with pytest.raises(SettingsError) as refused:
            Settings.from_environment({"AUTH_JWKS_URL": "https://idp.example/certs"})

        assert "AUTH_ISSUER" in str(refused.value)

    def test_a_provider_s_jwks_url_with_its_issuer_is_an_external_provider(self):
        settings = Settings.from_environment(
            {"AUTH_JWKS_URL": "https://idp.example/certs", "AUTH_ISSUER": "https://idp.example/"}
        )

        assert settings.external_identity_provider
        assert settings.auth_jwks_url == "https://idp.example/certs"

    def test_key_files_and_a_jwks_url_are_not_taken_together(self):
        with pytest.raises(SettingsError, match="not both"):
            Settings.from_environment(
                {"AUTH_JWKS_URL": "https://idp.example/certs", "AUTH_KEY_FILES": "a.pem", "AUTH_ISSUER": "x"}
            )

    def test_the_demo_sign_in_is_refused_unless_the_services_listen_on_loopback(self):
        with pytest.raises(SettingsError) as refused:
            Settings.from_environment({"DEMO_SIGN_IN": "on", "SERVICE_HOST": "0.0.0.0"})

        assert "loopback" in str(refused.value)

    @pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
    def test_the_demo_sign_in_is_switched_on_for_a_loopback_host(self, host):
        assert Settings.from_environment({"DEMO_SIGN_IN": "on", "SERVICE_HOST": host}).demo_sign_in

    def test_the_demo_sign_in_cannot_sign_an_identity_provider_s_tokens(self):
        with pytest.raises(SettingsError, match="local key"):
            Settings.from_environment({"DEMO_SIGN_IN": "on", "AUTH_KEY_FILES": "k.pem", "AUTH_ISSUER": "https://idp/"})

    @pytest.mark.parametrize(
        ("name", "value"),
        [("ORDER_MAX_UNPAID_ORDERS", "0"), ("ORDER_MAX_UNPAID_UNITS", "-1"), ("AUTH_LEEWAY_S", "3600"),
         ("DEMO_SIGN_IN", "yes"), ("AUTH_JWKS_URL", "idp.example/certs")],
    )
    def test_a_bad_identity_or_limit_value_names_the_variable(self, name, value):
        with pytest.raises(SettingsError, match=f"^{name}="):
            Settings.from_environment({name: value, "AUTH_ISSUER": "https://idp/"})
