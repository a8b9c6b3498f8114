import pytest

from autotab.config import Config, ModelConfig, parse_config, read_params
from autotab.errors import UserError
from autotab.modeling.zoo import FAMILIES, build_estimator
from tests.conftest import REPO


@pytest.fixture
def params():
    return read_params(REPO / "params.yaml")


def test_committed_params_validate(params):
    assert isinstance(parse_config(params), Config)


def with_section(params, section, **changes):
    return {**params, section: {**params[section], **changes}}


def test_unknown_key_names_the_key_and_the_accepted_keys(params):
    with pytest.raises(UserError) as error:
        parse_config(with_section(params, "data", targte="x"))
    message = str(error.value)
    assert "data.targte: unknown key" in message
    assert "target" in message and "\n" not in message


def test_wrong_value_names_the_key_and_the_accepted_values(params):
    with pytest.raises(UserError, match=r"data\.task: .*'binary'.*\(got 'binry'\)"):
        parse_config(with_section(params, "data", task="binry"))
    with pytest.raises(UserError, match=r"data\.test_size: .*less than 1"):
        parse_config(with_section(params, "data", test_size=1.5))


def test_missing_key_is_named(params):
    params["data"].pop("target")
    with pytest.raises(UserError, match=r"data\.target: required key is missing"):
        parse_config(params)


def test_unknown_section_is_named(params):
    with pytest.raises(UserError, match=r"tunning: unknown key; accepted keys: data, clean"):
        parse_config({**params, "tunning": {}})


def test_bad_hyperparameter_value_uses_sklearn_constraint():
    config = ModelConfig(name="random_forest", n_estimators=-3)
    with pytest.raises(UserError, match=r"^model\.n_estimators: .*range \[1, inf\).*Got -3"):
        build_estimator(config, "binary", seed=0)


def test_unknown_hyperparameter_lists_accepted_ones():
    config = ModelConfig(name="hist_gradient_boosting", n_estimators=10)
    with pytest.raises(UserError, match=r"model\.n_estimators: unknown hyperparameter.*max_iter"):
        build_estimator(config, "binary", seed=0)


def test_unknown_model_and_wrong_task():
    with pytest.raises(UserError, match="model.name: unknown model 'xgb'"):
        build_estimator(ModelConfig(name="xgb"), "binary", seed=0)
    with pytest.raises(UserError, match="does not do regression"):
        build_estimator(ModelConfig(name="logistic_regression"), "regression", seed=0)


def test_search_space_is_checked(params):
    space = {"C": {"low": 10, "high": 1}}
    with pytest.raises(UserError, match=r"model\.search_space\.C: low \(10\) must be below high"):
        parse_config(with_section(params, "model", search_space=space))
    config = ModelConfig(name="random_forest", search_space={"bogus": {"low": 1, "high": 2}})
    with pytest.raises(UserError, match=r"model\.search_space\.bogus: unknown hyperparameter"):
        build_estimator(config, "binary", seed=0)


def test_seed_comes_from_data_seed_not_the_model_group():
    estimator = build_estimator(ModelConfig(name="random_forest"), "binary", seed=7)
    assert estimator.random_state == 7
    assert set(FAMILIES) >= {"logistic_regression", "random_forest", "hist_gradient_boosting"}
