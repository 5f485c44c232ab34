"""One settings module: every environment variable is parsed in crmloop/settings.py, errors name
the variable, and secrets never show in a repr."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crmloop.settings import (
    DeliveryConfig,
    DeliveryConfigError,
    Settings,
    SettingsError,
    WebhookConfig,
)
from sources.declarations import load_declarations
from sources.quality.thresholds import thresholds_for

REPO = Path(__file__).resolve().parents[2]
ROOMS = ("sources", "activations", "crmloop", "orchestration")
SETTINGS = REPO / "crmloop" / "settings.py"
# reads that are not configuration: saving a variable to restore it after a dbt call
NOT_CONFIGURATION = {("orchestration/defs/warehouse.py", "_env")}


def _environment_reads(path: Path, root: Path = REPO) -> list[tuple[str, int]]:
    """`os.environ.get(...)`, `os.getenv(...)` and `os.environ[...]` read (not written) in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def is_environ(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "environ"

    def function_of(node) -> str:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node.name
        return ""

    found = []
    for node in ast.walk(tree):
        read = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and (
                (node.func.attr == "get" and is_environ(node.func.value))
                or (node.func.attr == "getenv" and getattr(node.func.value, "id", "") == "os")
            )
        ) or (isinstance(node, ast.Subscript) and is_environ(node.value) and isinstance(node.ctx, ast.Load))
        if read and (str(path.relative_to(root)), function_of(node)) not in NOT_CONFIGURATION:
            found.append((str(path.relative_to(root)), node.lineno))
    return found


def test_the_reader_finds_an_environment_read(tmp_path):
    (tmp_path / "m.py").write_text(
        "import os\nA = os.environ.get('X')\nB = os.getenv('Y')\nC = os.environ['Z']\nos.environ['W'] = '1'\n"
    )
    assert [line for _, line in _environment_reads(tmp_path / "m.py", tmp_path)] == [2, 3, 4]


def test_only_the_settings_module_reads_the_environment():
    reads = [
        hit
        for room in ROOMS
        for path in sorted((REPO / room).rglob("*.py"))
        if path != SETTINGS
        for hit in _environment_reads(path)
    ]
    assert reads == []


@pytest.mark.parametrize(
    ("variable", "value", "build"),
    [
        ("CRM_SENDGRID_RATE", "fast", lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_RETRY_MAX_ATTEMPTS", "six", lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_SENDGRID_ACTIVITY_LOOKUP", "maybe", lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_META_AUDIENCE_IDS", "vip_party=1", lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_META_AUDIENCE_IDS", '["1", "2"]', lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_ACTIVATION_MODE", "production", lambda env: DeliveryConfig.from_env(env=env)),
        ("CRM_ACTIVATION_MODE", "production", Settings.from_env),
        ("CRM_DQ_VOLUME_BAND", "half", Settings.from_env),
        ("CRM_START_DATE", "01/01/2024", Settings.from_env),
        ("CRM_WEBHOOK_TOLERANCE_SECONDS", "5min", lambda env: WebhookConfig.from_env(Path("."), environ=env)),
        ("CRM_WEBHOOK_SEAL_SECONDS", "x", lambda env: WebhookConfig.from_env(Path("."), environ=env)),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(variable, value, build):
    with pytest.raises(SettingsError, match=variable):
        build({variable: value})


def test_delivery_errors_are_settings_errors_the_cli_reports_as_input_mistakes():
    with pytest.raises(DeliveryConfigError, match="CRM_SENDGRID_BATCH"):
        DeliveryConfig.from_env(env={"CRM_SENDGRID_BATCH": "5000"})


def test_the_activation_mode_is_one_reading_for_the_run_and_for_delivery():
    env = {"CRM_ACTIVATION_MODE": "LIVE"}
    assert Settings.from_env(env).activation_mode == "live"
    assert DeliveryConfig.from_env(env=env).mode == "live"
    assert DeliveryConfig.from_env(env={}).mode == "sandbox"


def test_meta_audience_per_campaign_else_the_account_default():
    cfg = DeliveryConfig.from_env(
        env={
            "CRM_ACTIVATION_MODE": "live",
            "CRM_META_AUDIENCE_IDS": '{"vip_party": 2385, "regular_winback": "77"}',
            "META_CUSTOM_AUDIENCE_ID": "9000",
        }
    )
    assert cfg.meta_audience_id("vip_party") == "2385"
    assert cfg.meta_audience_id("regular_winback") == "77"
    assert cfg.meta_audience_id("new_thank_you") == "9000"
    unset = DeliveryConfig.from_env(env={"CRM_ACTIVATION_MODE": "live"})
    with pytest.raises(DeliveryConfigError, match="META_CUSTOM_AUDIENCE_ID"):
        unset.meta_audience_id("new_thank_you")


def test_secrets_come_from_the_environment_and_never_show_in_a_repr(tmp_path):
    env = {
        "CRM_ACTIVATION_MODE": "live",
        "SENDGRID_API_KEY": "SG.very-secret-key",
        "TWILIO_AUTH_TOKEN": "tw-very-secret",
        "SENDGRID_WEBHOOK_PUBLIC_KEY": "MFkw-very-secret",
    }
    cfg = DeliveryConfig.from_env(home=tmp_path, env=env)
    assert cfg.secret("SENDGRID_API_KEY") == "SG.very-secret-key"
    hook = WebhookConfig.from_env(tmp_path, environ=env)
    assert hook.twilio_auth_token == "tw-very-secret"
    assert hook.sendgrid_public_key == "MFkw-very-secret"
    for shown in (repr(cfg), str(cfg), repr(cfg.secrets), repr(hook), str(hook)):
        assert "very-secret" not in shown
    assert "SENDGRID_API_KEY" in repr(cfg.secrets)  # which are set is shown, not their values


def test_webhook_flags_win_over_the_environment(tmp_path):
    env = {
        "CRM_WEBHOOK_TOLERANCE_SECONDS": "120",
        "CRM_WEBHOOK_SEAL_SECONDS": "5",
        "CRM_LANDING_DIR": str(tmp_path),
    }
    from_env = WebhookConfig.from_env(environ=env)
    assert (from_env.tolerance_seconds, from_env.seal_seconds, from_env.landing_dir) == (120.0, 5.0, tmp_path)
    flagged = WebhookConfig.from_env(environ=env, tolerance_seconds=30.0)
    assert (flagged.tolerance_seconds, flagged.seal_seconds) == (30.0, 5.0)


def test_per_source_threshold_overrides_are_typed_and_name_their_variable():
    decl = load_declarations()["orders"]
    base = Settings.from_env({}).quality
    got = thresholds_for(
        base, decl, {"CRM_DQ_ORDERS_VOLUME_TRAILING_DAYS": "14", "CRM_DQ_ORDERS_MAX_NULL_SHARE": "0.3"}
    )
    assert (got.volume_trailing_days, got.max_null_share) == (14, 0.3)
    assert isinstance(got.volume_trailing_days, int)
    with pytest.raises(SettingsError, match="CRM_DQ_ORDERS_VOLUME_TRAILING_DAYS"):
        thresholds_for(base, decl, {"CRM_DQ_ORDERS_VOLUME_TRAILING_DAYS": "1.5"})
