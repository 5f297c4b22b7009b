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
        assert settings.product_service_url == "http://127.0.0.1:8002"
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
        ],
    )
    def test_a_bad_value_names_the_variable_and_what_it_accepts(self, name, value, message):
        with pytest.raises(SettingsError) as refused:
            Settings.from_environment({name: value})

        assert str(refused.value).startswith(message)

    def test_every_setting_has_a_field(self):
        fields = {name.upper() for name in attrs.fields_dict(Settings)}

        assert {s.name for s in SETTINGS} == fields
